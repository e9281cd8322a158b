//! The regular expressions of access rules: `regex-lite` 0.1's syntax and
//! matching, parsed to a tree, compiled to a Thompson NFA program and run as a
//! Pike VM (linear in the haystack, no backtracking, no captures).
//!
//! Patterns come from the operator, haystacks from any client, so matching
//! never recurses on the haystack and its memory is bounded by the program,
//! whose size is capped when the pattern is compiled.
//!
//! The grammar is `regex-lite`'s, quirks included, so that a pattern means the
//! same thing (and is refused in the same cases) as it did when the filter used
//! that crate; the tests check this differentially against it. Everything is Unicode scalar values, except that
//! case folding (`(?i)`), the Perl classes and word boundaries are ASCII-only,
//! as in `regex-lite`.

use std::fmt;

/// Deepest nesting of groups, and of the parsed tree (`regex-lite`'s default).
const NEST_LIMIT: u32 = 50;
/// Largest compiled program, in units of roughly one `regex-lite` NFA state
/// (32 bytes there). `regex-lite` refuses programs over 10 MiB (~327k states);
/// we refuse much earlier, because every request's match takes memory in
/// proportion to the program, and time in proportion to the program times the
/// client's value (a path can be 60 KiB). Real rules are a few hundred states;
/// `(?:[a-z]{1,63}\.){1,100}` is about 13,000.
const SIZE_LIMIT: usize = 20_000;
/// The largest Unicode scalar value.
const MAX_CHAR: u32 = 0x10_FFFF;

// Flag bits. `U` (swap greed) changes no match, and `u` is accepted and
// ignored as in `regex-lite`; both still count for duplicate flags.
const CASE_I: u8 = 1;
const MULTI_LINE: u8 = 2;
const DOT_NL: u8 = 4;
const SWAP_GREED: u8 = 8;
const CRLF: u8 = 16;
const VERBOSE: u8 = 32;
const UNICODE: u8 = 64;

const E_NEST: &str = "pattern nests too deeply (limit 50)";
const E_SIZE: &str = "pattern is too large once compiled (size limit 20000; a counted repetition like `{1000}` expands its operand that many times)";
const E_UNCLOSED_GROUP: &str = "unclosed group opened";
const E_UNOPENED_GROUP: &str = "`)` without a matching `(`";
const E_LOOK: &str = "look-around is not supported";
const E_EMPTY_FLAGS: &str = "empty flag group `(?)`";
const E_NAME_MISSING: &str = "missing group name";
const E_NAME_INVALID: &str = "invalid character in group name";
const E_NAME_UNCLOSED: &str = "unclosed group name (missing `>`)";
const E_NAME_EMPTY: &str = "empty group name";
const E_NAME_DUPLICATE: &str = "duplicate group name";
const E_FLAG_UNKNOWN: &str = "unknown flag";
const E_FLAG_NEGATION: &str = "repeated `-` in flags";
const E_FLAG_DUPLICATE: &str = "duplicate flag";
const E_FLAG_UNCLOSED: &str = "unclosed flag group (expected `:` or `)`)";
const E_FLAG_DANGLING: &str = "flags end with `-`";
const E_NUMBER_MISSING: &str = "expected a number in repetition count";
const E_NUMBER_BIG: &str = "repetition count is over 4294967295";
const E_HEX_DIGIT: &str = "invalid hex digit in escape";
const E_HEX_EOF: &str = "hex escape ends early";
const E_HEX_UNCLOSED: &str = "unclosed `{` in hex escape";
const E_HEX_EMPTY: &str = "empty hex escape `{}`";
const E_HEX_VALUE: &str = "hex escape is not a Unicode scalar value";
const E_ESCAPE_EOF: &str = "pattern ends with a lone `\\`";
const E_BACKREF: &str = "backreferences (`\\1`) are not supported";
const E_UNICODE_CLASS: &str = "Unicode classes (`\\p`, `\\P`) are not supported";
const E_ESCAPE_UNKNOWN: &str = "unknown escape";
const E_REPEAT_NOTHING: &str = "repetition operator with nothing to repeat";
const E_COUNT_UNCLOSED: &str = "unclosed counted repetition `{`";
const E_COUNT_INVALID: &str = "invalid counted repetition (expected `}`)";
const E_COUNT_ORDER: &str = "counted repetition has min bigger than max";
const E_CLASS_UNCLOSED: &str = "unclosed character class opened";
const E_CLASS_BOUND: &str = "class range bound must be a single character";
const E_CLASS_ITEM: &str = "invalid escape in character class";
const E_CLASS_ORDER: &str = "class range is out of order (start > end)";
const E_CLASS_NESTED: &str = "nested character classes are not supported";
const E_CLASS_AND: &str = "class intersection `&&` is not supported";
const E_CLASS_MINUS: &str = "class difference `--` is not supported";
const E_CLASS_XOR: &str = "class symmetric difference `~~` is not supported";
const E_BOUNDARY_UNCLOSED: &str = "unclosed or invalid `\\b{...}`";
const E_BOUNDARY_UNKNOWN: &str = "unknown word boundary `\\b{...}`";
const E_BOUNDARY_EOF: &str = "pattern ends inside `\\b{`";

/// A compiled regular expression (`regex-lite` 0.1 syntax).
#[derive(Debug, Clone)]
pub struct Regex {
    prog: Vec<Inst>,
    /// The character ranges of every class, shared by all copies of a class
    /// that a counted repetition makes.
    ranges: Vec<(u32, u32)>,
}

/// Why a pattern was refused: the problem and, when it has one, its byte
/// offset in the pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError {
    what: &'static str,
    at: Option<usize>,
}

impl fmt::Display for RegexError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.what)?;
        match self.at {
            Some(at) => write!(f, " at offset {at}"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for RegexError {}

fn err<T>(what: &'static str, at: usize) -> Result<T, RegexError> {
    Err(RegexError { what, at: Some(at) })
}

/// A zero-width assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Look {
    Start,
    End,
    StartLf,
    EndLf,
    StartCrlf,
    EndCrlf,
    Word,
    NotWord,
    WordStart,
    WordEnd,
    WordStartHalf,
    WordEndHalf,
}

impl Look {
    /// Whether the assertion holds between `prev` and `next` (`None` at the
    /// ends of the haystack). Word characters are ASCII-only.
    fn holds(self, prev: Option<char>, next: Option<char>) -> bool {
        let word = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        let (before, after) = (word(prev), word(next));
        match self {
            Self::Start => prev.is_none(),
            Self::End => next.is_none(),
            Self::StartLf => matches!(prev, None | Some('\n')),
            Self::EndLf => matches!(next, None | Some('\n')),
            Self::StartCrlf => match prev {
                None | Some('\n') => true,
                Some('\r') => next != Some('\n'),
                Some(_) => false,
            },
            Self::EndCrlf => match next {
                None | Some('\r') => true,
                Some('\n') => prev != Some('\r'),
                Some(_) => false,
            },
            Self::Word => before != after,
            Self::NotWord => before == after,
            Self::WordStart => !before && after,
            Self::WordEnd => before && !after,
            Self::WordStartHalf => !before,
            Self::WordEndHalf => !after,
        }
    }
}

/// A node of the parsed tree, shaped like `regex-lite`'s HIR so that the
/// nesting check refuses the same patterns. Children are indices into the
/// parser's node list, so dropping a deep tree never recurses.
#[derive(Debug, Clone)]
enum Node {
    Empty,
    /// `ranges[from..to]`; empty matches nothing.
    Class(usize, usize),
    Look(Look),
    /// A capture group (matching ignores captures; it only counts for nesting).
    Group(usize),
    Rep {
        min: u32,
        max: Option<u32>,
        sub: usize,
    },
    Concat(Vec<usize>),
    Alt(Vec<usize>),
}

/// What a single escape or character stands for; classes need to tell a
/// single character (usable as a range bound) from a set.
#[derive(Debug)]
enum Atom {
    Char(char),
    Set(Vec<(u32, u32)>),
    Look(Look),
}

/// One instruction; each falls through to the next unless it jumps.
#[derive(Debug, Clone, Copy)]
enum Inst {
    /// Consume one character in `ranges[from..to]`.
    Class(usize, usize),
    Split(usize, usize),
    Jump(usize),
    Look(Look),
    Match,
}

impl Regex {
    /// Compiles `pattern` (`regex-lite` syntax). Refuses whatever `regex-lite`
    /// refuses, and programs over the size limit.
    pub fn new(pattern: &str) -> Result<Regex, RegexError> {
        let mut parser = Parser {
            pat: pattern,
            pos: 0,
            flags: 0,
            depth: 0,
            nodes: Vec::new(),
            ranges: Vec::new(),
            names: Vec::new(),
        };
        let root = parser.parse_alt()?;
        parser.check_depth(root, 0)?;
        if parser.estimate(root) >= SIZE_LIMIT {
            return Err(RegexError {
                what: E_SIZE,
                at: None,
            });
        }
        let mut compiler = Compiler {
            nodes: &parser.nodes,
            prog: Vec::new(),
        };
        compiler.emit(root);
        compiler.prog.push(Inst::Match);
        Ok(Regex {
            prog: compiler.prog,
            ranges: parser.ranges,
        })
    }

    /// Whether the pattern matches anywhere in `haystack` (unanchored search),
    /// as `regex_lite::Regex::is_match`. Time is O(haystack × program).
    pub fn is_match(&self, haystack: &str) -> bool {
        let size = self.prog.len();
        if size > KEPT_SCRATCH_LIMIT {
            return self.run(&mut Scratch::default(), haystack);
        }
        // Only a match inside a match could find the kept memory borrowed
        // (none does), and only a thread's teardown gone; then a match works
        // in memory of its own.
        SCRATCH
            .try_with(|scratch| {
                let mut scratch = scratch.try_borrow_mut().ok()?;
                Some(self.run(&mut scratch, haystack))
            })
            .ok()
            .flatten()
            .unwrap_or_else(|| self.run(&mut Scratch::default(), haystack))
    }

    fn run(&self, scratch: &mut Scratch, haystack: &str) -> bool {
        let size = self.prog.len();
        let Scratch {
            current,
            next,
            stack,
        } = scratch;
        current.reset(size);
        next.reset(size);
        stack.clear();
        let mut chars = haystack.chars();
        let mut prev = None;
        let mut at = chars.next();
        // A pattern that starts with `^` (not multi-line) can only match from
        // the start: once its threads die, nothing later can match. Path rules
        // mostly look like this, and paths can be long.
        let anchored = matches!(self.prog.first(), Some(Inst::Look(Look::Start)));
        loop {
            // A new thread starts at every position: the search is unanchored.
            if (!anchored || prev.is_none()) && self.follow(current, stack, 0, prev, at) {
                return true;
            }
            if anchored && current.dense.is_empty() {
                return false;
            }
            let Some(c) = at else { return false };
            let after = chars.next();
            next.dense.clear();
            for &pc in &current.dense {
                if let Some(&Inst::Class(from, to)) = self.prog.get(pc) {
                    if self.in_class(from, to, c)
                        && self.follow(next, stack, pc + 1, Some(c), after)
                    {
                        return true;
                    }
                }
            }
            std::mem::swap(current, next);
            prev = Some(c);
            at = after;
        }
    }

    fn in_class(&self, from: usize, to: usize, c: char) -> bool {
        let c = u32::from(c);
        let ranges = self.ranges.get(from..to).unwrap_or_default();
        let i = ranges.partition_point(|&(_, hi)| hi < c);
        ranges.get(i).is_some_and(|&(lo, _)| lo <= c)
    }

    /// Adds `pc` and everything reachable from it without consuming a
    /// character to `set`; returns whether that reaches `Match`. Uses an
    /// explicit stack (each state is pushed at most twice per call).
    fn follow(
        &self,
        set: &mut Threads,
        stack: &mut Vec<usize>,
        pc: usize,
        prev: Option<char>,
        next: Option<char>,
    ) -> bool {
        stack.push(pc);
        while let Some(pc) = stack.pop() {
            if !set.insert(pc) {
                continue;
            }
            match self.prog.get(pc) {
                Some(&Inst::Split(a, b)) => {
                    stack.push(b);
                    stack.push(a);
                }
                Some(&Inst::Jump(to)) => stack.push(to),
                Some(&Inst::Look(look)) if look.holds(prev, next) => stack.push(pc + 1),
                Some(Inst::Match) => {
                    stack.clear();
                    return true;
                }
                _ => {}
            }
        }
        false
    }
}

/// Programs up to this size keep their matcher's memory between calls (about
/// 20 bytes per state on wasm32); real rules are a few hundred states.
const KEPT_SCRATCH_LIMIT: usize = 4096;

thread_local! {
    /// The matcher's memory, kept between matches: path rules run on every
    /// request, and allocating it anew cost five allocations per rule tried.
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// What one match works in: this step's and the next step's threads, and the
/// stack `follow` uses.
#[derive(Default)]
struct Scratch {
    current: Threads,
    next: Threads,
    stack: Vec<usize>,
}

/// A sparse set of program counters: O(1) insert, clear and membership.
#[derive(Default)]
struct Threads {
    dense: Vec<usize>,
    sparse: Vec<usize>,
}

impl Threads {
    /// Empties the set and makes room for program counters below `size`.
    /// `sparse` needs no clearing: an entry counts only when `dense` points
    /// back at it.
    fn reset(&mut self, size: usize) {
        self.dense.clear();
        if self.sparse.len() < size {
            self.sparse.resize(size, 0);
        }
    }

    /// Inserts `pc`; false if it was already there (or out of range).
    fn insert(&mut self, pc: usize) -> bool {
        let len = self.dense.len();
        match self.sparse.get_mut(pc) {
            Some(slot) if self.dense.get(*slot) != Some(&pc) => {
                *slot = len;
                self.dense.push(pc);
                true
            }
            _ => false,
        }
    }
}

/// Emits the program for a checked tree; the size estimate bounds its length.
struct Compiler<'n> {
    nodes: &'n [Node],
    prog: Vec<Inst>,
}

impl Compiler<'_> {
    fn emit(&mut self, id: usize) {
        let nodes = self.nodes;
        match nodes.get(id) {
            Some(&Node::Class(from, to)) => self.prog.push(Inst::Class(from, to)),
            Some(&Node::Look(look)) => self.prog.push(Inst::Look(look)),
            Some(&Node::Group(sub)) => self.emit(sub),
            Some(Node::Concat(subs)) => subs.iter().for_each(|&sub| self.emit(sub)),
            Some(Node::Alt(subs)) => self.emit_alt(subs),
            Some(&Node::Rep { min, max, sub }) => self.emit_rep(min, max, sub),
            Some(Node::Empty) | None => {}
        }
    }

    /// `a|b|c`: a split to each branch but the last, each ending with a jump
    /// to the end.
    #[inline(never)]
    fn emit_alt(&mut self, subs: &[usize]) {
        let Some((&last, init)) = subs.split_last() else {
            return;
        };
        let mut jumps = Vec::new();
        for &sub in init {
            let split = self.prog.len();
            self.prog.push(Inst::Split(split + 1, 0));
            self.emit(sub);
            jumps.push(self.prog.len());
            self.prog.push(Inst::Jump(0));
            self.patch(split, self.prog.len());
        }
        self.emit(last);
        let end = self.prog.len();
        for jump in jumps {
            self.patch(jump, end);
        }
    }

    #[inline(never)]
    fn emit_rep(&mut self, min: u32, max: Option<u32>, sub: usize) {
        let min = usize::try_from(min).unwrap_or(usize::MAX);
        match max {
            None if min == 0 => {
                let split = self.prog.len();
                self.prog.push(Inst::Split(split + 1, 0));
                self.emit(sub);
                self.prog.push(Inst::Jump(split));
                self.patch(split, self.prog.len());
            }
            None => {
                for _ in 1..min {
                    self.emit(sub);
                }
                let start = self.prog.len();
                self.emit(sub);
                let here = self.prog.len();
                self.prog.push(Inst::Split(start, here + 1));
            }
            Some(max) => {
                let max = usize::try_from(max).unwrap_or(usize::MAX);
                for _ in 0..min {
                    self.emit(sub);
                }
                // Every optional copy may be skipped straight to the end.
                let mut splits = Vec::new();
                for _ in min..max {
                    splits.push(self.prog.len());
                    self.prog.push(Inst::Split(self.prog.len() + 1, 0));
                    self.emit(sub);
                }
                let end = self.prog.len();
                for split in splits {
                    self.patch(split, end);
                }
            }
        }
    }

    /// Points the open target of a split or jump at `to`.
    fn patch(&mut self, at: usize, to: usize) {
        if let Some(Inst::Split(_, target) | Inst::Jump(target)) = self.prog.get_mut(at) {
            *target = to;
        }
    }
}

/// Sorts in place. A heapsort: a few hundred bytes of wasm where the standard
/// library's sorts take several KB, and still O(n log n) for huge classes.
fn heapsort(v: &mut [(u32, u32)]) {
    let len = v.len();
    for root in (0..len / 2).rev() {
        sift_down(v, root, len);
    }
    for end in (1..len).rev() {
        v.swap(0, end);
        sift_down(v, 0, end);
    }
}

fn sift_down(v: &mut [(u32, u32)], mut root: usize, end: usize) {
    loop {
        let mut child = 2 * root + 1;
        if child >= end {
            return;
        }
        if child + 1 < end && v.get(child) < v.get(child + 1) {
            child += 1;
        }
        if v.get(root) >= v.get(child) {
            return;
        }
        v.swap(root, child);
        root = child;
    }
}

/// Sorts and merges overlapping or adjacent ranges.
fn canonical(ranges: &mut Vec<(u32, u32)>) {
    heapsort(ranges);
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges.iter() {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    *ranges = out;
}

/// The complement of canonical ranges.
fn negate(ranges: &[(u32, u32)]) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let mut next = 0;
    for &(lo, hi) in ranges {
        if lo > next {
            out.push((next, lo - 1));
        }
        next = hi + 1;
    }
    if next <= MAX_CHAR {
        out.push((next, MAX_CHAR));
    }
    out
}

/// `regex-lite`'s ASCII case fold of one range: the other case of its
/// lowercase part if it has one, else of its uppercase part (so `[X-c]` gains
/// `A-C` but not `x-z`, as there).
fn fold((lo, hi): (u32, u32)) -> Option<(u32, u32)> {
    let (a, z) = (u32::from('a'), u32::from('z'));
    let (upper_a, upper_z) = (u32::from('A'), u32::from('Z'));
    if lo <= z && hi >= a {
        Some((lo.max(a) - 32, hi.min(z) - 32))
    } else if lo <= upper_z && hi >= upper_a {
        Some((lo.max(upper_a) + 32, hi.min(upper_z) + 32))
    } else {
        None
    }
}

/// Adds the case-folded ranges to canonical `ranges`.
fn fold_class(ranges: &mut Vec<(u32, u32)>) {
    let extra: Vec<(u32, u32)> = ranges.iter().filter_map(|&r| fold(r)).collect();
    ranges.extend(extra);
    canonical(ranges);
}

/// The named POSIX (ASCII) class, canonical.
fn posix(name: &str) -> Option<Vec<(u32, u32)>> {
    let table: &[(u8, u8)] = match name {
        "alnum" => &[(b'0', b'9'), (b'A', b'Z'), (b'a', b'z')],
        "alpha" => &[(b'A', b'Z'), (b'a', b'z')],
        "ascii" => &[(0, 0x7F)],
        "blank" => &[(b'\t', b'\t'), (b' ', b' ')],
        "cntrl" => &[(0, 0x1F), (0x7F, 0x7F)],
        "digit" => &[(b'0', b'9')],
        "graph" => &[(b'!', b'~')],
        "lower" => &[(b'a', b'z')],
        "print" => &[(b' ', b'~')],
        "punct" => &[(b'!', b'/'), (b':', b'@'), (b'[', b'`'), (b'{', b'~')],
        "space" => &[(b'\t', b'\r'), (b' ', b' ')],
        "upper" => &[(b'A', b'Z')],
        "word" => &[(b'0', b'9'), (b'A', b'Z'), (b'_', b'_'), (b'a', b'z')],
        "xdigit" => &[(b'0', b'9'), (b'A', b'F'), (b'a', b'f')],
        _ => return None,
    };
    Some(
        table
            .iter()
            .map(|&(lo, hi)| (u32::from(lo), u32::from(hi)))
            .collect(),
    )
}

/// Characters that may be escaped to stand for themselves: ASCII other than
/// letters, digits, `<` and `>` (which covers every meta character).
fn is_escapable(c: char) -> bool {
    c.is_ascii() && !c.is_ascii_alphanumeric() && c != '<' && c != '>'
}

fn range(c: char) -> (u32, u32) {
    (u32::from(c), u32::from(c))
}

/// A recursive-descent parser mirroring `regex-lite`'s, one function per
/// construct. Recursion is bounded by the nesting limit.
struct Parser<'a> {
    pat: &'a str,
    /// Byte offset of the current character.
    pos: usize,
    flags: u8,
    depth: u32,
    nodes: Vec<Node>,
    ranges: Vec<(u32, u32)>,
    /// Capture group names seen so far, sorted.
    names: Vec<&'a str>,
}

/// Input handling: the current character, bumps and verbose-mode spacing.
impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.pat.get(self.pos..).unwrap_or_default()
    }

    fn cur(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn is(&self, c: char) -> bool {
        self.cur() == Some(c)
    }

    fn flag(&self, bit: u8) -> bool {
        self.flags & bit != 0
    }

    /// Moves past the current character; whether another one follows.
    fn bump(&mut self) -> bool {
        if let Some(c) = self.cur() {
            self.pos += c.len_utf8();
        }
        self.cur().is_some()
    }

    fn bump_if(&mut self, prefix: &str) -> bool {
        let found = self.rest().starts_with(prefix);
        if found {
            self.pos += prefix.len();
        }
        found
    }

    /// In verbose mode (`x`), skips whitespace and `#` comments.
    fn bump_space(&mut self) {
        if !self.flag(VERBOSE) {
            return;
        }
        while let Some(c) = self.cur() {
            if c.is_whitespace() {
                self.bump();
            } else if c == '#' {
                while let Some(c) = self.cur() {
                    self.bump();
                    if c == '\n' {
                        break;
                    }
                }
            } else {
                break;
            }
        }
    }

    fn bump_and_bump_space(&mut self) -> bool {
        if !self.bump() {
            return false;
        }
        self.bump_space();
        self.cur().is_some()
    }

    fn peek(&self) -> Option<char> {
        let mut chars = self.rest().chars();
        chars.next();
        chars.next()
    }

    /// The next character after the current one, skipping whitespace in
    /// verbose mode the way `regex-lite` does (it skips one `#` but not the
    /// comment's text).
    fn peek_space(&self) -> Option<char> {
        if !self.flag(VERBOSE) {
            return self.peek();
        }
        let mut chars = self.rest().chars();
        chars.next()?;
        let after = chars.as_str();
        let mut hash = false;
        for c in after.chars() {
            if c.is_whitespace() {
                continue;
            }
            if c == '#' && !hash {
                hash = true;
                continue;
            }
            return Some(c);
        }
        after.chars().next()
    }

    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn class_node(&mut self, ranges: &[(u32, u32)]) -> usize {
        let from = self.ranges.len();
        self.ranges.extend_from_slice(ranges);
        self.push(Node::Class(from, self.ranges.len()))
    }

    fn atom_node(&mut self, atom: Atom) -> usize {
        match atom {
            Atom::Char(c) => self.class_node(&[range(c)]),
            Atom::Set(ranges) => self.class_node(&ranges),
            Atom::Look(look) => self.push(Node::Look(look)),
        }
    }
}

/// Groups, alternation and repetition.
impl Parser<'_> {
    /// An alternation up to a `)` or the end (`regex-lite`'s `parse_inner`).
    fn parse_alt(&mut self) -> Result<usize, RegexError> {
        let depth = self.depth;
        if depth > NEST_LIMIT {
            return err(E_NEST, self.pos);
        }
        self.depth = depth + 1;
        let mut alts = Vec::new();
        let mut concat = Vec::new();
        loop {
            self.bump_space();
            let Some(c) = self.cur() else { break };
            match c {
                '(' => self.parse_group_item(&mut concat)?,
                ')' if depth == 0 => return err(E_UNOPENED_GROUP, self.pos),
                ')' => break,
                '|' => {
                    alts.push(self.concat(std::mem::take(&mut concat)));
                    self.bump();
                }
                '[' => {
                    let class = self.parse_class()?;
                    concat.push(class);
                }
                '?' | '*' | '+' => self.parse_uncounted(&mut concat, c)?,
                '{' => self.parse_counted(&mut concat)?,
                _ => {
                    let prim = self.parse_primitive(c)?;
                    concat.push(prim);
                }
            }
        }
        self.depth = depth;
        alts.push(self.concat(concat));
        Ok(if alts.len() == 1 {
            alts.pop().unwrap_or_default()
        } else {
            self.push(Node::Alt(alts))
        })
    }

    fn concat(&mut self, mut items: Vec<usize>) -> usize {
        match items.len() {
            0 => self.push(Node::Empty),
            1 => items.pop().unwrap_or_default(),
            _ => self.push(Node::Concat(items)),
        }
    }

    /// A group or a flag directive, with its closing `)`. Flags set inside a
    /// group end with it; a bare directive like `(?i)` lasts to the end of
    /// the enclosing group.
    #[inline(never)]
    fn parse_group_item(&mut self, concat: &mut Vec<usize>) -> Result<(), RegexError> {
        let open = self.pos;
        let flags = self.flags;
        if let Some(sub) = self.parse_group(open)? {
            concat.push(sub);
            self.flags = flags;
        }
        if !self.is(')') {
            return err(E_UNCLOSED_GROUP, open);
        }
        self.bump();
        Ok(())
    }

    #[inline(never)]
    fn parse_group(&mut self, open: usize) -> Result<Option<usize>, RegexError> {
        self.bump_and_bump_space();
        if ["?=", "?!", "?<=", "?<!"].iter().any(|p| self.bump_if(p)) {
            return err(E_LOOK, open);
        }
        let capture = self.bump_if("?P<") || self.bump_if("?<");
        if capture {
            self.parse_capture_name()?;
        }
        if capture || !self.bump_if("?") {
            let sub = self.parse_alt()?;
            return Ok(Some(self.push(Node::Group(sub))));
        }
        if self.cur().is_none() {
            return err(E_UNCLOSED_GROUP, open);
        }
        let start = self.pos;
        self.flags = self.parse_flags()?;
        if self.is(')') {
            if self.pos == start {
                return err(E_EMPTY_FLAGS, open);
            }
            return Ok(None);
        }
        // `parse_flags` stops only at `:` or `)`.
        self.bump();
        self.parse_alt().map(Some)
    }

    #[inline(never)]
    fn parse_capture_name(&mut self) -> Result<(), RegexError> {
        let start = self.pos;
        if self.cur().is_none() {
            return err(E_NAME_MISSING, start);
        }
        while let Some(c) = self.cur() {
            if c == '>' {
                break;
            }
            let valid = c == '_'
                || if self.pos == start {
                    c.is_alphabetic()
                } else {
                    matches!(c, '.' | '[' | ']') || c.is_alphanumeric()
                };
            if !valid {
                return err(E_NAME_INVALID, self.pos);
            }
            self.bump();
        }
        if self.cur().is_none() {
            return err(E_NAME_UNCLOSED, start);
        }
        let name = self.pat.get(start..self.pos).unwrap_or_default();
        self.bump();
        if name.is_empty() {
            return err(E_NAME_EMPTY, start);
        }
        match self.names.binary_search(&name) {
            Ok(_) => err(E_NAME_DUPLICATE, start),
            Err(i) => {
                self.names.insert(i, name);
                Ok(())
            }
        }
    }

    /// Flags up to (not past) the `:` or `)` that ends them.
    #[inline(never)]
    fn parse_flags(&mut self) -> Result<u8, RegexError> {
        let mut flags = self.flags;
        let mut negate = false;
        let mut last_was_negation = false;
        let mut seen = 0u8;
        while let Some(c) = self.cur().filter(|&c| c != ':' && c != ')') {
            last_was_negation = c == '-';
            if c == '-' {
                if negate {
                    return err(E_FLAG_NEGATION, self.pos);
                }
                negate = true;
            } else {
                let bit = match c {
                    'i' => CASE_I,
                    'm' => MULTI_LINE,
                    's' => DOT_NL,
                    'U' => SWAP_GREED,
                    'R' => CRLF,
                    'x' => VERBOSE,
                    'u' => UNICODE,
                    _ => return err(E_FLAG_UNKNOWN, self.pos),
                };
                if negate {
                    flags &= !bit;
                } else {
                    flags |= bit;
                }
                if seen & bit != 0 {
                    return err(E_FLAG_DUPLICATE, self.pos);
                }
                seen |= bit;
            }
            if !self.bump() {
                return err(E_FLAG_UNCLOSED, self.pos);
            }
        }
        if last_was_negation {
            return err(E_FLAG_DANGLING, self.pos);
        }
        Ok(flags)
    }

    /// `?`, `*` or `+` (and a lazy `?`) applied to the last item.
    #[inline(never)]
    fn parse_uncounted(&mut self, concat: &mut Vec<usize>, op: char) -> Result<(), RegexError> {
        let Some(sub) = concat.pop() else {
            return err(E_REPEAT_NOTHING, self.pos);
        };
        let (min, max) = match op {
            '?' => (0, Some(1)),
            '*' => (0, None),
            _ => (1, None),
        };
        if self.bump() && self.is('?') {
            self.bump();
        }
        let rep = self.repetition(min, max, sub);
        concat.push(rep);
        Ok(())
    }

    /// `{n}`, `{n,}` or `{n,m}` (and a lazy `?`) applied to the last item.
    #[inline(never)]
    fn parse_counted(&mut self, concat: &mut Vec<usize>) -> Result<(), RegexError> {
        let open = self.pos;
        let Some(sub) = concat.pop() else {
            return err(E_REPEAT_NOTHING, open);
        };
        if !self.bump_and_bump_space() {
            return err(E_COUNT_UNCLOSED, open);
        }
        let min = self.parse_decimal()?;
        let mut max = Some(min);
        if self.cur().is_none() {
            return err(E_COUNT_UNCLOSED, open);
        }
        if self.is(',') {
            if !self.bump_and_bump_space() {
                return err(E_COUNT_UNCLOSED, open);
            }
            max = if self.is('}') {
                None
            } else {
                Some(self.parse_decimal()?)
            };
            if self.cur().is_none() {
                return err(E_COUNT_UNCLOSED, open);
            }
        }
        if !self.is('}') {
            return err(E_COUNT_INVALID, self.pos);
        }
        if self.bump_and_bump_space() && self.is('?') {
            self.bump();
        }
        if max.is_some_and(|max| min > max) {
            return err(E_COUNT_ORDER, open);
        }
        let rep = self.repetition(min, max, sub);
        concat.push(rep);
        Ok(())
    }

    /// A decimal number; whitespace around it is allowed even outside
    /// verbose mode, as in `regex-lite`.
    #[inline(never)]
    fn parse_decimal(&mut self) -> Result<u32, RegexError> {
        while self.cur().is_some_and(char::is_whitespace) {
            self.bump();
        }
        let start = self.pos;
        let mut value = Some(0u32);
        let mut digits = false;
        while let Some(digit) = self.cur().and_then(|c| c.to_digit(10)) {
            digits = true;
            value = value
                .and_then(|v| v.checked_mul(10))
                .and_then(|v| v.checked_add(digit));
            self.bump_and_bump_space();
        }
        while self.cur().is_some_and(char::is_whitespace) {
            self.bump_and_bump_space();
        }
        if !digits {
            return err(E_NUMBER_MISSING, start);
        }
        value.map_or_else(|| err(E_NUMBER_BIG, start), Ok)
    }

    /// `regex-lite`'s simplifications: `x{0}` is empty and `x{1}` is `x`.
    fn repetition(&mut self, min: u32, max: Option<u32>, sub: usize) -> usize {
        match (min, max) {
            (0, Some(0)) => self.push(Node::Empty),
            (1, Some(1)) => sub,
            _ => self.push(Node::Rep { min, max, sub }),
        }
    }
}

/// Characters, escapes and character classes.
impl Parser<'_> {
    #[inline(never)]
    fn parse_primitive(&mut self, c: char) -> Result<usize, RegexError> {
        let start = self.pos;
        self.bump();
        let atom = match c {
            '\\' => self.parse_escape(start)?,
            '.' => Atom::Set(self.dot()),
            '^' => Atom::Look(match (self.flag(MULTI_LINE), self.flag(CRLF)) {
                (false, _) => Look::Start,
                (true, false) => Look::StartLf,
                (true, true) => Look::StartCrlf,
            }),
            '$' => Atom::Look(match (self.flag(MULTI_LINE), self.flag(CRLF)) {
                (false, _) => Look::End,
                (true, false) => Look::EndLf,
                (true, true) => Look::EndCrlf,
            }),
            _ => self.literal(c),
        };
        Ok(self.atom_node(atom))
    }

    fn dot(&self) -> Vec<(u32, u32)> {
        if self.flag(DOT_NL) {
            vec![(0, MAX_CHAR)]
        } else if self.flag(CRLF) {
            vec![(0, 9), (11, 12), (14, MAX_CHAR)]
        } else {
            vec![(0, 9), (11, MAX_CHAR)]
        }
    }

    /// A literal character, both ASCII cases of it under `(?i)`.
    fn literal(&self, c: char) -> Atom {
        if self.flag(CASE_I) {
            if let Some(other) = fold(range(c)) {
                let mut set = vec![range(c), other];
                canonical(&mut set);
                return Atom::Set(set);
            }
        }
        Atom::Char(c)
    }

    /// The escape after the `\` at `start`.
    #[inline(never)]
    fn parse_escape(&mut self, start: usize) -> Result<Atom, RegexError> {
        let Some(c) = self.cur() else {
            return err(E_ESCAPE_EOF, start);
        };
        match c {
            '0'..='9' => return err(E_BACKREF, start),
            'p' | 'P' => return err(E_UNICODE_CLASS, start),
            'x' | 'u' | 'U' => return self.parse_hex(c, start),
            'd' | 's' | 'w' | 'D' | 'S' | 'W' => {
                self.bump();
                let mut set = posix(match c.to_ascii_lowercase() {
                    'd' => "digit",
                    's' => "space",
                    _ => "word",
                })
                .unwrap_or_default();
                if c.is_ascii_uppercase() {
                    set = negate(&set);
                }
                return Ok(Atom::Set(set));
            }
            _ => {}
        }
        self.bump();
        if is_escapable(c) {
            return Ok(self.literal(c));
        }
        let special = match c {
            'a' => '\x07',
            'f' => '\x0C',
            't' => '\t',
            'n' => '\n',
            'r' => '\r',
            'v' => '\x0B',
            _ => return self.escape_look(c, start).map(Atom::Look),
        };
        Ok(self.literal(special))
    }

    #[inline(never)]
    fn escape_look(&mut self, c: char, start: usize) -> Result<Look, RegexError> {
        Ok(match c {
            'A' => Look::Start,
            'z' => Look::End,
            'B' => Look::NotWord,
            '<' => Look::WordStart,
            '>' => Look::WordEnd,
            'b' if self.is('{') => self.special_word_boundary()?.unwrap_or(Look::Word),
            'b' => Look::Word,
            _ => return err(E_ESCAPE_UNKNOWN, start),
        })
    }

    /// `\b{start}`, `\b{end}`, `\b{start-half}` or `\b{end-half}`, at the
    /// `{`. `None` (and no move) when it can only be a counted repetition,
    /// like `\b{2}`.
    #[inline(never)]
    fn special_word_boundary(&mut self) -> Result<Option<Look>, RegexError> {
        let start = self.pos;
        if !self.bump_and_bump_space() {
            return err(E_BOUNDARY_EOF, start);
        }
        let valid = |c: &char| c.is_ascii_alphabetic() || *c == '-';
        if !self.cur().is_some_and(|c| valid(&c)) {
            self.pos = start;
            return Ok(None);
        }
        let mut name = String::new();
        while let Some(c) = self.cur().filter(valid) {
            name.push(c);
            self.bump_and_bump_space();
        }
        if !self.is('}') {
            return err(E_BOUNDARY_UNCLOSED, start);
        }
        self.bump();
        Ok(Some(match name.as_str() {
            "start" => Look::WordStart,
            "end" => Look::WordEnd,
            "start-half" => Look::WordStartHalf,
            "end-half" => Look::WordEndHalf,
            _ => return err(E_BOUNDARY_UNKNOWN, start),
        }))
    }

    /// `\xNN`, `\uNNNN`, `\UNNNNNNNN` or any of them with `{hex}`, at the
    /// letter.
    #[inline(never)]
    fn parse_hex(&mut self, kind: char, start: usize) -> Result<Atom, RegexError> {
        let digits = match kind {
            'x' => 2,
            'u' => 4,
            _ => 8,
        };
        if !self.bump_and_bump_space() {
            return err(E_HEX_EOF, start);
        }
        let value = if self.is('{') {
            self.hex_brace(start)?
        } else {
            self.hex_fixed(digits, start)?
        };
        match value.and_then(char::from_u32) {
            Some(c) => Ok(self.literal(c)),
            None => err(E_HEX_VALUE, start),
        }
    }

    /// Exactly `digits` hex digits (at most 8, so the value fits).
    #[inline(never)]
    fn hex_fixed(&mut self, digits: usize, start: usize) -> Result<Option<u32>, RegexError> {
        let mut value = 0u32;
        for i in 0..digits {
            if i > 0 && !self.bump_and_bump_space() {
                return err(E_HEX_EOF, start);
            }
            let Some(digit) = self.cur().and_then(|c| c.to_digit(16)) else {
                return err(E_HEX_DIGIT, self.pos);
            };
            value = (value << 4) | digit;
        }
        self.bump_and_bump_space();
        Ok(Some(value))
    }

    /// Hex digits in braces; `None` if they overflow.
    #[inline(never)]
    fn hex_brace(&mut self, start: usize) -> Result<Option<u32>, RegexError> {
        let mut value = Some(0u32);
        let mut digits = false;
        while self.bump_and_bump_space() {
            let Some(c) = self.cur().filter(|&c| c != '}') else {
                break;
            };
            let Some(digit) = c.to_digit(16) else {
                return err(E_HEX_DIGIT, self.pos);
            };
            digits = true;
            value = value
                .and_then(|v| v.checked_mul(16))
                .and_then(|v| v.checked_add(digit));
        }
        if self.cur().is_none() {
            return err(E_HEX_UNCLOSED, start);
        }
        self.bump_and_bump_space();
        if !digits {
            return err(E_HEX_EMPTY, start);
        }
        Ok(value)
    }

    /// A bracketed class, at the `[`.
    #[inline(never)]
    fn parse_class(&mut self) -> Result<usize, RegexError> {
        let open = self.pos;
        let mut set = Vec::new();
        if !self.bump_and_bump_space() {
            return err(E_CLASS_UNCLOSED, open);
        }
        let negated = self.is('^');
        if negated && !self.bump_and_bump_space() {
            return err(E_CLASS_UNCLOSED, open);
        }
        // Leading `-`s, then a leading `]`, are literal.
        while self.is('-') {
            set.push(range('-'));
            if !self.bump_and_bump_space() {
                return err(E_CLASS_UNCLOSED, open);
            }
        }
        if set.is_empty() && self.is(']') {
            set.push(range(']'));
            if !self.bump_and_bump_space() {
                return err(E_CLASS_UNCLOSED, open);
            }
        }
        self.parse_class_items(&mut set, open)?;
        canonical(&mut set);
        // Fold before negating, so that `(?i)[^x]` excludes `X` too.
        if self.flag(CASE_I) {
            fold_class(&mut set);
        }
        if negated {
            set = negate(&set);
        }
        Ok(self.class_node(&set))
    }

    /// The items of a class up to and past its `]`.
    #[inline(never)]
    fn parse_class_items(
        &mut self,
        set: &mut Vec<(u32, u32)>,
        open: usize,
    ) -> Result<(), RegexError> {
        loop {
            self.bump_space();
            let Some(c) = self.cur() else {
                return err(E_CLASS_UNCLOSED, open);
            };
            match c {
                '[' => match self.posix_class() {
                    Some(ranges) => set.extend(ranges),
                    None => return err(E_CLASS_NESTED, self.pos),
                },
                ']' => {
                    self.bump();
                    return Ok(());
                }
                '&' | '-' | '~' if self.peek() == Some(c) => {
                    let what = match c {
                        '&' => E_CLASS_AND,
                        '-' => E_CLASS_MINUS,
                        _ => E_CLASS_XOR,
                    };
                    return err(what, self.pos);
                }
                _ => self.parse_class_range(set, open)?,
            }
        }
    }

    /// One item: a character, an escape, or a range of two characters.
    #[inline(never)]
    fn parse_class_range(
        &mut self,
        set: &mut Vec<(u32, u32)>,
        open: usize,
    ) -> Result<(), RegexError> {
        let start = self.pos;
        let first = self.parse_class_item(open)?;
        self.bump_space();
        if self.cur().is_none() {
            return err(E_CLASS_UNCLOSED, open);
        }
        if !self.is('-') || matches!(self.peek_space(), Some(']' | '-')) {
            match first {
                Atom::Char(c) => set.push(range(c)),
                Atom::Set(ranges) => set.extend(ranges),
                Atom::Look(_) => return err(E_CLASS_ITEM, start),
            }
            return Ok(());
        }
        if !self.bump_and_bump_space() {
            return err(E_CLASS_UNCLOSED, open);
        }
        let second = self.parse_class_item(open)?;
        let (Atom::Char(lo), Atom::Char(hi)) = (first, second) else {
            return err(E_CLASS_BOUND, start);
        };
        if lo > hi {
            return err(E_CLASS_ORDER, start);
        }
        set.push((u32::from(lo), u32::from(hi)));
        Ok(())
    }

    #[inline(never)]
    fn parse_class_item(&mut self, open: usize) -> Result<Atom, RegexError> {
        let start = self.pos;
        let Some(c) = self.cur() else {
            return err(E_CLASS_UNCLOSED, open);
        };
        self.bump();
        if c == '\\' {
            self.parse_escape(start)
        } else {
            Ok(Atom::Char(c))
        }
    }

    /// `[:name:]` or `[:^name:]` at the `[`; `None` (and no move) otherwise.
    fn posix_class(&mut self) -> Option<Vec<(u32, u32)>> {
        let start = self.pos;
        let class = self.posix_class_inner();
        if class.is_none() {
            self.pos = start;
        }
        class
    }

    #[inline(never)]
    fn posix_class_inner(&mut self) -> Option<Vec<(u32, u32)>> {
        if !self.bump() || !self.is(':') || !self.bump() {
            return None;
        }
        let negated = self.is('^');
        if negated && !self.bump() {
            return None;
        }
        let name_start = self.pos;
        while self.cur().is_some_and(|c| c != ':') {
            self.bump();
        }
        let name = self.pat.get(name_start..self.pos)?;
        if self.cur().is_none() || !self.bump_if(":]") {
            return None;
        }
        let set = posix(name)?;
        Some(if negated { negate(&set) } else { set })
    }
}

/// Checks and sizes the tree before it is compiled (recursion bounded by the
/// nesting limit).
impl Parser<'_> {
    /// `regex-lite`'s check of the tree's depth: repetitions and capture
    /// groups nest even when the parser did not recurse.
    fn check_depth(&self, id: usize, depth: u32) -> Result<(), RegexError> {
        if depth > NEST_LIMIT {
            return Err(RegexError {
                what: E_NEST,
                at: None,
            });
        }
        match self.nodes.get(id) {
            Some(&(Node::Group(sub) | Node::Rep { sub, .. })) => self.check_depth(sub, depth + 1),
            Some(Node::Concat(subs) | Node::Alt(subs)) => subs
                .iter()
                .try_for_each(|&sub| self.check_depth(sub, depth + 1)),
            _ => Ok(()),
        }
    }

    /// An upper bound on the program's length that also tracks the number of
    /// states `regex-lite` would build, so that whatever it refuses as too
    /// big, we refuse too. Saturating, so huge counts cannot overflow.
    fn estimate(&self, id: usize) -> usize {
        match self.nodes.get(id) {
            Some(&Node::Class(from, to)) => 1 + (to - from) / 4,
            Some(&Node::Group(sub)) => self.estimate(sub).saturating_add(2),
            Some(Node::Concat(subs)) => subs
                .iter()
                .fold(0, |total, &sub| total.saturating_add(self.estimate(sub))),
            Some(Node::Alt(subs)) => subs
                .iter()
                .fold(subs.len().saturating_mul(2), |total, &sub| {
                    total.saturating_add(self.estimate(sub))
                }),
            Some(&Node::Rep { min, max, sub }) => {
                let size = self.estimate(sub);
                let min = usize::try_from(min).unwrap_or(usize::MAX);
                match max.map(|max| usize::try_from(max).unwrap_or(usize::MAX)) {
                    None if min == 0 => size.saturating_add(3),
                    None => min.saturating_mul(size).saturating_add(1),
                    Some(max) => min
                        .saturating_mul(size)
                        .saturating_add((max - min).saturating_mul(size.saturating_add(1)))
                        .saturating_add(2),
                }
            }
            _ => 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::XorShift;

    fn matches(pattern: &str, haystack: &str) -> bool {
        Regex::new(pattern).unwrap().is_match(haystack)
    }

    fn error(pattern: &str) -> String {
        Regex::new(pattern).unwrap_err().to_string()
    }

    /// Our answer and `regex-lite`'s, for patterns both accept.
    fn same(pattern: &str, haystack: &str) -> bool {
        let ours = matches(pattern, haystack);
        let theirs = regex_lite::Regex::new(pattern).unwrap().is_match(haystack);
        assert_eq!(ours, theirs, "{pattern:?} on {haystack:?}");
        ours
    }

    #[test]
    fn literals_concatenation_and_alternation() {
        assert!(same("abc", "xxabcxx"));
        assert!(!same("abc", "ab"));
        assert!(same("a|b", "b"));
        assert!(same("^(?:a|)$", ""));
        assert!(same("|", "anything"));
        assert!(same("", ""));
        assert!(same("é", "café"));
        assert!(same("😀+", "x😀😀"));
        assert!(!same("^(?:alice|bob)$", "alicebob"));
    }

    #[test]
    fn dot_and_its_flags() {
        assert!(!same(".", "\n"));
        assert!(same(".", "\r"));
        assert!(same("(?s).", "\n"));
        assert!(!same("(?R).", "\r"));
        assert!(same("(?Rs).", "\r"));
        assert!(same("^.$", "ß"));
    }

    #[test]
    fn classes() {
        assert!(same("^[a-c]+$", "abcba"));
        assert!(!same("[^a-c]", "abc"));
        assert!(same("[]a]", "]"));
        assert!(same("[^]]", "a"));
        assert!(same("[-a]", "-"));
        assert!(same("[a-]", "-"));
        assert!(same("[--]", "-"));
        assert!(same(r"[\d_]", "_"));
        assert!(same(r"[\D]", "x"));
        assert!(same(r"[\x41-\x{43}]", "B"));
        assert!(same("[[:alpha:]]", "q"));
        assert!(!same("[[:alpha:]]", "é"));
        assert!(same("[[:^alpha:]]", "é"));
        assert!(same("[[:digit:][:upper:]]", "Q"));
        assert!(same("[a[:digit:]]", "7"));
        assert!(!same(r"[^\s\S]", "a"));
        assert!(same("[é-ö]", "ï"));
        assert!(same(r"[\[\]]", "["));
        assert!(same("[a^]", "^"));
        assert!(same("[&]", "&"));
        assert!(same("[!-&]", "&"));
    }

    #[test]
    fn case_insensitivity_is_ascii_only() {
        assert!(same("(?i)hello", "HeLLo"));
        assert!(same("(?i)[a-c]", "B"));
        assert!(!same("(?i)[^x]", "X"));
        assert!(!same("(?i)k", "\u{212A}"));
        assert!(!same("(?i)s", "ſ"));
        assert!(!same("(?i)ß", "SS"));
        assert!(!same("(?i)é", "É"));
        assert!(same("(?i:a)b", "Ab"));
        assert!(!same("(?i:a)b", "AB"));
        assert!(same("(?i)a(?-i)b", "Ab"));
        assert!(!same("(?i)a(?-i)b", "AB"));
        assert!(same("(?i)[[:lower:]]", "Q"));
        assert!(same(r"(?i)\x61", "A"));
        // regex-lite folds only the lowercase part of a mixed range.
        assert!(same("(?i)^[X-c]$", "A"));
        assert!(!same("(?i)^[X-c]$", "x"));
        // A flag directive lasts to the end of its group only.
        assert!(!same("(?:(?i)a)a", "AA"));
        assert!(same("(?:(?i)a)a", "Aa"));
    }

    #[test]
    fn perl_classes_are_ascii() {
        assert!(same(r"^\d+$", "0123456789"));
        assert!(!same(r"\d", "٣"));
        assert!(!same(r"\w", "é"));
        assert!(same(r"\W", "é"));
        assert!(same(r"\s", "\x0B"));
        assert!(!same(r"\s", "\u{A0}"));
        assert!(same(r"\S", "\u{A0}"));
    }

    #[test]
    fn anchors_and_multi_line() {
        assert!(same("^/api/", "/api/x"));
        assert!(!same("^/api/", "/v1/api/"));
        assert!(same(r"\.(png|css)$", "/a.css"));
        assert!(!same("a$", "a\n"));
        assert!(same("(?m)a$", "a\nb"));
        assert!(same("(?m)^b", "a\nb"));
        assert!(!same("^b", "a\nb"));
        assert!(same(r"\Aa\z", "a"));
        assert!(!same(r"(?m)\Ab", "a\nb"));
        assert!(same("(?mR)^b", "a\r\nb"));
        assert!(same("(?mR)a$", "a\r\nb"));
        assert!(!same("(?mR)^$", "a\r\nb"));
        assert!(same("(?m)^$", "a\r\n\nb"));
        assert!(same("(?mR)^$", "a\n\nb"));
        // In CRLF mode neither anchor holds between the \r and \n of a \r\n.
        assert!(!same("(?mR)\r$\n", "\r\n"));
        assert!(!same("(?mR)\r^\n", "\r\n"));
    }

    #[test]
    fn word_boundaries() {
        assert!(same(r"\bfoo\b", "a foo b"));
        assert!(!same(r"\bfoo\b", "afoo"));
        assert!(!same(r"\b", "é"));
        assert!(same(r"\B", "é"));
        assert!(!same(r"\B", "a"));
        assert!(same(r"\B", "aé"));
        assert!(same(r"\<foo", " foo"));
        assert!(!same(r"\<foo", "afoo"));
        assert!(same(r"foo\>", "foo!"));
        assert!(same(r"\b{start}x\b{end}", "(x)"));
        assert!(same(r"x\b{end-half}", "x"));
        assert!(!same(r"\b{start-half}x", "ax"));
        // `\b{2}` is `\b` repeated.
        assert!(same(r"\b{2}a", "a"));
    }

    #[test]
    fn verbose_mode() {
        assert!(same("(?x) a b # comment\n c", "abc"));
        assert!(same(r"(?x)a\ b", "a b"));
        assert!(same("(?x)[a b]", "b"));
        assert!(!same("(?x)[a b]", " "));
        assert!(same("(?x)a{ 2 , 3 }", "aa"));
        assert!(same(r"(?x)\x 4 1", "A"));
        assert!(same("(?x)( ?: a )", "a"));
        assert!(same("(?x)[a -z]", "q"));
        // A space between the dashes keeps them from being the refused class
        // difference `--`; regex-lite accepts this, and so must we.
        assert!(same("(?x)[a- -b]", "-"));
    }

    #[test]
    fn groups_and_repetition() {
        assert!(same("(?P<name>a)(?<other>b)(c)", "abc"));
        assert!(same("^(?:ab)+$", "ababab"));
        assert!(!same("^(?:ab)+$", "aba"));
        assert!(same("^a{2}$", "aa"));
        assert!(same("^a{2,}$", "aaaaa"));
        assert!(!same("^a{2,3}$", "aaaa"));
        assert!(same("^a{0}$", ""));
        assert!(same("^a{ 2 }$", "aa"));
        assert!(same("^a*?b+?c??d{1,2}?$", "bd"));
        assert!(same("(?U)^a*$", "aaa"));
        assert!(same("a**", ""));
        assert!(same("^(?:a*)*$", "aaa"));
        assert!(same("^(?:a?){3}a{3}$", "aaa"));
        assert!(same("^(?:|a)+$", "aa"));
        assert!(same("/admin(/.*)?$", "/x/admin/y"));
        assert!(same("^*a", "a"));
        assert!(same("a(?i)*", "aA"));
    }

    #[test]
    fn escapes() {
        assert!(same(r"\x41\x{1F600}\u00e9\U0001F600\u{3A3}", "A😀é😀Σ"));
        assert!(same(r"\n\t\r\a\f\v", "\n\t\r\x07\x0C\x0B"));
        assert!(same(r"\.\*\\\-\#\&\~\%\ \/", ".*\\-#&~% /"));
        assert!(same(r"\x{0000041}", "A"));
        assert!(same("a}]", "a}]"));
    }

    #[test]
    fn real_world_rules() {
        let cases = [
            ("^/api/", "/api/users", true),
            ("^/api/", "/apix", false),
            (r".*@example\.com", "bob@example.com", true),
            (r"^(?:.*@example\.com)$", "bob@example.com.evil", false),
            (r"(?i)^(?:[a-z]+\.)?admin$", "Ops.ADMIN", true),
            (r"(?i)^(?:[a-z]+\.)?admin$", "ops.admins", false),
            (r"\.(png|css|js)$", "/static/app.js", true),
            (r"\.(png|css|js)$", "/static/app.json", false),
            ("^/(?:public|static)/.*", "/public/x", true),
            ("^/(?:public|static)/.*", "/private/x", false),
            ("^(?:alice|bob)$", "bob", true),
            ("^(?:alice|bob)$", "bobby", false),
            ("^(?:[a-z]+_admin)$", "ops_admin", true),
            ("/admin(/.*)?$", "/admin", true),
        ];
        for (pattern, haystack, expected) in cases {
            assert_eq!(same(pattern, haystack), expected, "{pattern} on {haystack}");
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let cases = [
            ("(a", "unclosed group opened at offset 0"),
            ("ab(c(d)", "unclosed group opened at offset 2"),
            ("a)", "`)` without a matching `(` at offset 1"),
            (r"ab\q", "unknown escape at offset 2"),
            ("[z-a]", "out of order"),
            ("a{3,1}", "min bigger than max"),
            ("*a", "nothing to repeat"),
            ("a|*", "nothing to repeat"),
            ("{2}", "nothing to repeat"),
            ("(?=a)", "look-around"),
            ("(?<!a)", "look-around"),
            ("(?)", "empty flag group"),
            ("(?P<>a)", "empty group name"),
            ("(?P<a>x)(?<a>y)", "duplicate group name"),
            ("(?P<1>a)", "invalid character in group name"),
            ("(?P<a", "unclosed group name"),
            ("(?P<", "missing group name"),
            ("(?z)", "unknown flag"),
            ("(?--i)", "repeated `-`"),
            ("(?ii)", "duplicate flag"),
            ("(?i-i)", "duplicate flag"),
            ("(?i", "unclosed flag group"),
            ("(?i-)", "flags end with `-`"),
            ("(?", "unclosed group"),
            ("a{", "unclosed counted repetition"),
            ("a{2", "unclosed counted repetition"),
            ("a{2,", "unclosed counted repetition"),
            ("a{x}", "expected a number"),
            ("a{,2}", "expected a number"),
            ("a{99999999999}", "over 4294967295"),
            ("a{1x}", "expected `}`"),
            (r"\xZZ", "invalid hex digit"),
            (r"\x4", "hex escape ends early"),
            (r"\x", "hex escape ends early"),
            (r"\x{41", "unclosed `{`"),
            (r"\x{}", "empty hex escape"),
            (r"\x{D800}", "not a Unicode scalar value"),
            (r"\x{110000}", "not a Unicode scalar value"),
            (r"\x{FFFFFFFFF}", "not a Unicode scalar value"),
            ("a\\", "lone `\\` at offset 1"),
            (r"\1", "backreferences"),
            (r"\pL", "Unicode classes"),
            ("[a", "unclosed character class opened at offset 0"),
            ("[", "unclosed character class"),
            ("[^", "unclosed character class"),
            ("[]", "unclosed character class"),
            ("[a-", "unclosed character class"),
            (r"[\b]", "invalid escape in character class"),
            (r"[\d-z]", "single character"),
            (r"(?i)[\x61-z]", "single character"),
            ("[[a]]", "nested character classes"),
            ("[[:foo:]]", "nested character classes"),
            ("[a&&b]", "intersection"),
            ("[a--b]", "difference"),
            ("[a~~b]", "symmetric difference"),
            (r"\b{foo}", "unknown word boundary"),
            (r"\b{start", "unclosed or invalid"),
            (r"\b{", "ends inside"),
            (r"\e", "unknown escape"),
            (r"\Z", "unknown escape"),
        ];
        for (pattern, expected) in cases {
            let message = error(pattern);
            assert!(message.contains(expected), "{pattern:?}: {message}");
            assert!(
                regex_lite::Regex::new(pattern).is_err(),
                "regex-lite accepts {pattern:?}"
            );
        }
    }

    #[test]
    fn nesting_limit_matches_regex_lite() {
        for depth in [49, 50, 51, 52, 1000, 100_000] {
            for (open, close) in [("(", ")"), ("(?:", ")"), ("(?i:", ")")] {
                let pattern = format!("{}a{}", open.repeat(depth), close.repeat(depth));
                let ours = Regex::new(&pattern);
                let theirs = regex_lite::Regex::new(&pattern);
                assert_eq!(ours.is_ok(), theirs.is_ok(), "depth {depth} with {open}");
                if let Err(e) = ours {
                    assert!(e.to_string().contains("nests too deeply"), "{e}");
                }
            }
            let stars = format!("a{}", "*".repeat(depth));
            assert_eq!(
                Regex::new(&stars).is_ok(),
                regex_lite::Regex::new(&stars).is_ok(),
                "{depth} stars"
            );
        }
        // Stacked repetitions of an emptied operand vanish, as in regex-lite.
        let vanished = format!("a{}{{0}}", "*".repeat(100));
        assert!(Regex::new(&vanished).is_ok() && regex_lite::Regex::new(&vanished).is_ok());
    }

    #[test]
    fn size_limit() {
        for pattern in [
            "a{1000}{1000}",
            "(?:){4294967295}",
            "(?:a{1000}){1000}",
            r"\w{1000}{1000}",
        ] {
            assert!(error(pattern).contains("too large"), "{pattern}");
            assert!(regex_lite::Regex::new(pattern).is_err(), "{pattern}");
        }
        // Accepted by both.
        for pattern in [
            "a{1000}",
            "[a-z]{1,1000}",
            "(?:[a-z]{1,63}\\.){1,100}",
            "a{4294967295}{0}",
        ] {
            assert!(Regex::new(pattern).is_ok(), "{pattern}");
            assert!(regex_lite::Regex::new(pattern).is_ok(), "{pattern}");
        }
        assert!(matches("^a{1000}$", &"a".repeat(1000)));
        assert!(!matches("^a{1000}$", &"a".repeat(999)));
        // Divergence: regex-lite builds these; we refuse them.
        assert!(error("a{100000}").contains("too large"));
        assert!(error("a{20000}").contains("too large"));
        assert!(Regex::new("a{19000}").is_ok());
    }

    #[test]
    fn matching_is_linear() {
        let haystack = "a".repeat(10_000);
        for pattern in [
            "(a*)*b",
            "(a|a)*b",
            "(x+x+)+y",
            "(a|aa)+$b",
            "^(a?){50}a{50}$",
            "(?:a*)*(?:a*)*c",
        ] {
            assert!(!matches(pattern, &haystack), "{pattern}");
        }
        assert!(matches("(a|aa)+$", &haystack));
    }

    // ---- The differential test against regex-lite. ----

    const LITERALS: &[&str] = &[
        "a", "b", "c", "A", "B", "0", "1", "_", "-", "/", "@", "é", "Σ", "ß", "K", "ſ", "😀", " ",
        "}", "]", ",", ":", "<", ">", "=", "!", "#", "&", "~",
    ];
    const ESCAPES: &[&str] = &[
        r"\d",
        r"\D",
        r"\w",
        r"\W",
        r"\s",
        r"\S",
        r"\b",
        r"\B",
        r"\A",
        r"\z",
        r"\<",
        r"\>",
        r"\b{start}",
        r"\b{end}",
        r"\b{start-half}",
        r"\b{end-half}",
        r"\b{foo}",
        r"\b{",
        r"\b{2}",
        r"\b{ start}",
        r"\b{st art}",
        r"\n",
        r"\t",
        r"\r",
        r"\a",
        r"\f",
        r"\v",
        r"\.",
        r"\*",
        r"\\",
        r"\-",
        r"\#",
        r"\&",
        r"\~",
        r"\%",
        r"\ ",
        r"\q",
        r"\e",
        r"\1",
        r"\0",
        r"\pL",
        r"\P{L}",
        r"\x41",
        r"\x61",
        r"\x{e9}",
        r"\x{3A3}",
        r"\u00e9",
        r"\u212A",
        r"\U0001F600",
        r"\x{110000}",
        r"\x{D800}",
        r"\xZZ",
        r"\x{}",
        r"\x{41",
        r"\x4",
        r"\u{17F}",
        r"\U{61}",
        r"\x{ 41}",
        r"\x 41",
        r"\/",
        r"\@",
        r"\:",
        r"\'",
        r"\é",
        r"\",
        r"\{",
        r"\}",
        r"\[",
        r"\]",
        r"\(",
        r"\)",
        r"\|",
        r"\^",
        r"\$",
        r"\?",
        r"\+",
        r"\<",
        r"\>",
    ];
    const CLASS_ITEMS: &[&str] = &[
        "a",
        "b",
        "z",
        "A",
        "Z",
        "0",
        "9",
        "_",
        "é",
        "Σ",
        "ß",
        " ",
        "-",
        "^",
        "]",
        "[",
        "#",
        "&",
        "~",
        "a-c",
        "A-Z",
        "z-a",
        "0-9",
        "a-",
        "-z",
        "é-ö",
        "X-c",
        r"\d",
        r"\W",
        r"\s",
        r"\n",
        r"\x41",
        r"\x61-z",
        r"a-\x7a",
        r"\--z",
        r"\]",
        r"\[",
        r"\-",
        r"\^",
        r"\b",
        r"\A",
        r"\q",
        r"\d-z",
        "[:alpha:]",
        "[:^digit:]",
        "[:foo:]",
        "[:word:]",
        "[:upper:]",
        "[:lower:]",
        "[:space:]",
        "[:punct:]",
        "[:alnum",
        "[a]",
        "&&",
        "--",
        "~~",
        "a&&b",
        " -",
        "- ",
        "# c\n",
        "a - c",
    ];
    const GROUP_OPENS: &[&str] = &[
        "(",
        "(",
        "(?:",
        "(?:",
        "(?i:",
        "(?-i:",
        "(?s:",
        "(?m:",
        "(?x:",
        "(?R:",
        "(?U:",
        "(?u:",
        "(?ims:",
        "(?i-s:",
        "(?mR:",
        "(?P<n>",
        "(?<m>",
        "(?P<x1>",
        "(?<_x.y[0]>",
        "(?P<é>",
        "(?=",
        "(?!",
        "(?<=",
        "(?<!",
        "(?P<>",
        "(?P<1a>",
        "(?P<a",
        "(?",
        "(?i-:",
        "(?--i:",
        "(?ii:",
        "(?z:",
        "(? i:",
        "( ?:",
        "(?x: ",
    ];
    const DIRECTIVES: &[&str] = &[
        "(?i)", "(?-i)", "(?s)", "(?m)", "(?x)", "(?R)", "(?U)", "(?mR)", "(?)", "(?i", "(?-)",
        "(?is-m)", "(?-x)", "(?u)", "(?x)", "(?i)",
    ];
    const REPEATS: &[&str] = &[
        "*",
        "+",
        "?",
        "*?",
        "+?",
        "??",
        "{2}",
        "{0}",
        "{1}",
        "{1,3}",
        "{2,}",
        "{0,2}?",
        "{3,1}",
        "{,2}",
        "{ 2 }",
        "{2",
        "{",
        "{a}",
        "{1,2",
        "{99999999999}",
        "{0,}",
        "{1,1}",
        "{0,0}",
        "{2}?",
        "{ 1 , 2 }",
        "{1 2}",
        "**",
        "{1,}",
    ];
    const JUNK: &[&str] = &[
        "(", ")", "|", "[", "]", "{", "}", "*", "+", "?", "\\", " ", "#", "\n", "^", "$", ".",
    ];

    fn pick<'a>(rng: &mut XorShift, items: &[&'a str]) -> &'a str {
        items[rng.below(items.len())]
    }

    fn gen_alt(rng: &mut XorShift, depth: usize, out: &mut String) {
        let branches = if rng.below(4) == 0 {
            2 + rng.below(2)
        } else {
            1
        };
        for i in 0..branches {
            if i > 0 {
                out.push('|');
            }
            for _ in 0..rng.below(5) {
                gen_piece(rng, depth, out);
                if rng.below(4) == 0 {
                    out.push_str(pick(rng, REPEATS));
                }
            }
        }
    }

    fn gen_piece(rng: &mut XorShift, depth: usize, out: &mut String) {
        match rng.below(16) {
            6 => out.push_str(pick(rng, &["^", "$", "."])),
            7 | 8 => out.push_str(pick(rng, ESCAPES)),
            9 | 10 => gen_class(rng, out),
            11 | 12 if depth < 4 => {
                out.push_str(pick(rng, GROUP_OPENS));
                gen_alt(rng, depth + 1, out);
                if rng.below(12) != 0 {
                    out.push(')');
                }
            }
            13 => out.push_str(pick(rng, DIRECTIVES)),
            14 => out.push_str(pick(rng, JUNK)),
            // Most often (0..=5, 15, or a group too deep): a literal.
            _ => out.push_str(pick(rng, LITERALS)),
        }
    }

    fn gen_class(rng: &mut XorShift, out: &mut String) {
        out.push('[');
        if rng.below(3) == 0 {
            out.push('^');
        }
        if rng.below(6) == 0 {
            out.push_str(pick(rng, &["-", "]", "--", "-]"]));
        }
        for _ in 0..rng.below(4) {
            out.push_str(pick(rng, CLASS_ITEMS));
        }
        if rng.below(12) != 0 {
            out.push(']');
        }
    }

    fn gen_pattern(rng: &mut XorShift) -> String {
        let mut out = String::new();
        if rng.below(4) == 0 {
            out.push_str(pick(rng, DIRECTIVES));
        }
        let mut inner = String::new();
        gen_alt(rng, 0, &mut inner);
        // Half of the patterns in the shape of the value filters.
        if rng.below(2) == 0 {
            out.push_str("^(?:");
            out.push_str(&inner);
            out.push_str(")$");
        } else {
            out.push_str(&inner);
        }
        out
    }

    fn gen_haystack(rng: &mut XorShift, pattern: &str) -> String {
        const BASE: &str = "abcABC012_-./@ \n\r\tézΣσßKkſs😀xX#&~[]%";
        // The pattern's own characters make matches likely.
        let mut alphabet: Vec<char> = pattern.chars().collect();
        alphabet.extend(BASE.chars());
        let len = rng.below(10);
        (0..len)
            .map(|_| alphabet[rng.below(alphabet.len())])
            .collect()
    }

    #[test]
    fn patterns_anchored_at_the_start_match_only_there() {
        // `^` first makes the matcher stop once its threads die; whatever
        // only looks anchored (an alternative, multi-line) must not.
        let cases = [
            (r"^/api/", "/api/x", true),
            (r"^/api/", "/x/api/", false),
            (r"^a", "ba", false),
            (r"^a|b", "xb", true),
            (r"(?:^a)|b", "xb", true),
            (r"(?m)^a", "x\na", true),
            (r"^", "", true),
            (r"^", "x", true),
            (r"^$", "x", false),
            (r"^\b/", "/", false),
            (r"^.*z", "abcz", true),
            (r"^[a-z]+$", "abc1", false),
            (r"(^a)+", "ba", false),
            (r"(^a)+", "aa", true),
            (r"^+a", "ba", false),
            (r"^*a", "ba", true),
            (r"\Ab", "ab", false),
            (r"^{0}b", "ab", true),
        ];
        for (pattern, haystack, expected) in cases {
            let ours = Regex::new(pattern).unwrap().is_match(haystack);
            let theirs = regex_lite::Regex::new(pattern).unwrap().is_match(haystack);
            assert_eq!(theirs, expected, "{pattern:?} on {haystack:?} (regex-lite)");
            assert_eq!(ours, expected, "{pattern:?} on {haystack:?}");
        }
    }

    #[test]
    fn matches_reuse_their_memory_across_programs_of_any_size() {
        // The kept scratch grows with the largest program it has run and is
        // never cleared: a small program after a medium one must not see
        // stale threads. The large one is over the kept limit and works in
        // memory of its own, which must not disturb the kept one either.
        let large = Regex::new(&format!("^(?:{})$", "[a-z]x".repeat(3000))).unwrap();
        assert!(large.prog.len() > KEPT_SCRATCH_LIMIT);
        let medium = Regex::new(r"^(?:ab|cd){1,200}$").unwrap();
        let small = Regex::new(r"z").unwrap();
        for _ in 0..3 {
            assert!(medium.is_match(&"ab".repeat(200)));
            assert!(!small.is_match("abc"));
            assert!(!large.is_match("ax"));
            assert!(small.is_match("xyz"));
            assert!(!medium.is_match(&"ab".repeat(201)));
        }
    }

    #[test]
    fn agrees_with_regex_lite() {
        let mut rng = XorShift::new(0x2545_F491_4F6C_DD1D);
        let (mut accepted, mut matched, mut oversized) = (0, 0, 0);
        for _ in 0..200_000 {
            let pattern = gen_pattern(&mut rng);
            let ours = Regex::new(&pattern);
            let theirs = regex_lite::Regex::new(&pattern);
            match (&ours, &theirs) {
                (Ok(ours), Ok(theirs)) => {
                    accepted += 1;
                    for _ in 0..20 {
                        let haystack = gen_haystack(&mut rng, &pattern);
                        let expected = theirs.is_match(&haystack);
                        matched += usize::from(expected);
                        assert_eq!(
                            ours.is_match(&haystack),
                            expected,
                            "{pattern:?} on {haystack:?}"
                        );
                    }
                }
                (Err(_), Err(_)) => {}
                // The one known divergence: a count like `x{110000}` that
                // regex-lite builds but that is over our size limit.
                (Err(e), Ok(_)) if e.what == E_SIZE => oversized += 1,
                _ => panic!("{pattern:?}: ours {ours:?}, regex-lite {theirs:?}"),
            }
        }
        // The grammar must exercise both outcomes.
        assert!(
            accepted > 50_000 && accepted < 180_000,
            "{accepted} accepted"
        );
        assert!(matched > 200_000, "{matched} matches");
        assert!(oversized < 100, "{oversized} over the size limit");
    }
}
