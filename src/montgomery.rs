//! The constant both Montgomery arithmetics (`rsa_verify` and `ecdsa`) derive
//! from their odd modulus: −m⁻¹ mod 2³², which makes each reduction step
//! clear the lowest 32-bit word.

/// −m0⁻¹ mod 2³² for the lowest word `m0` of an odd modulus.
pub(crate) fn neg_inverse(m0: u32) -> u32 {
    // Newton's iteration doubles the correct low bits of 1/m0 each step, from
    // the 3 bits of m0 itself (an odd square is 1 mod 8): 3·2⁴ ≥ 32.
    let mut inv = m0;
    for _ in 0..4 {
        inv = inv.wrapping_mul(2u32.wrapping_sub(m0.wrapping_mul(inv)));
    }
    inv.wrapping_neg()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_the_modulus_gives_minus_one() {
        for m0 in [1u32, 3, 0xFFFF_FFFF, 0xFC63_2551, 0xCCC5_2973, 0x8000_0001] {
            assert_eq!(m0.wrapping_mul(neg_inverse(m0)), u32::MAX, "{m0:#x}");
        }
    }
}
