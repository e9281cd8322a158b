#!/usr/bin/env python3
"""Writes the realistic seed inputs of every fuzz target into a directory
(default: tests/fuzz/seeds/out/<target>/): valid requests, the real
configurations of filter-config/ and a Tinyauth environment block, provider
documents as the Pocket ID stand-in (tests/e2e/pocket-id/standin.mjs) sends
them, and ID tokens signed with the test keys (tests/keys/, through openssl).

tests/fuzz/run.sh --seed merges them into the checked-in corpora with
`cargo fuzz cmin`; the corpora, not these files, are what the smoke run uses.
"""
import base64
import glob
import hashlib
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "out")
ISSUER = "https://id.example.com"
NOW = 1_800_000_000
# tests/fuzz/fuzz_targets/provider.rs: the nonce of the paused login.
PROVIDER_NONCE = "fuzz-nonce-fuzz-nonce-fuzz-nonce-fuzz-nonc"
# tests/fuzz/fuzz_targets/id_token.rs
ID_TOKEN_NONCE = "n-0123456789abcdefghijklmnopqrstuvwxyzABCDE"


def write(target, data):
    if isinstance(data, str):
        data = data.encode()
    folder = os.path.join(OUT, target)
    os.makedirs(folder, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def rs256(claims, kid="key-a"):
    header = {"alg": "RS256", "kid": kid, "typ": "JWT"}
    signing_input = b64(json.dumps(header, separators=(",", ":")).encode()) + "." + b64(
        json.dumps(claims, separators=(",", ":")).encode()
    )
    signature = subprocess.run(
        ["openssl", "dgst", "-sha256", "-sign", os.path.join(ROOT, "tests/keys/rsa-a.pem")],
        input=signing_input.encode(),
        capture_output=True,
        check=True,
    ).stdout
    return signing_input + "." + b64(signature)


def rsa_jwk(kid="key-a"):
    text = subprocess.run(
        ["openssl", "rsa", "-in", os.path.join(ROOT, "tests/keys/rsa-a.pem"), "-noout", "-modulus"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    modulus = bytes.fromhex(text.strip().split("=", 1)[1])
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(modulus), "e": "AQAB"}


def alice():
    return {"sub": "8b1f1c5e-alice", "email": "alice@example.com", "email_verified": True,
            "preferred_username": "alice", "name": "Alice Anderson", "groups": ["admins", "users"]}


def id_claims(nonce, user):
    claims = {"iss": ISSUER, "aud": ["tinyauth"], "sub": user["sub"], "exp": NOW + 3600,
              "iat": NOW, "nonce": nonce, "type": "id-token", "amr": ["phr"]}
    for key in ["email", "email_verified", "preferred_username", "name", "groups"]:
        if key in user:
            claims[key] = user[key]
    return claims


def request_seeds():
    chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36"
    # Flags byte: 0x80 text mode; bits 0-2 session user (0 none); bit 3 expired; bits 4-6 peer.
    cases = [
        (0x80, "docs.example.com", "/public/readme.html", []),
        (0x80, "docs.example.com", "/public/../admin", []),
        (0x80, "docs.example.com", "/public/%2e%2e/admin", []),
        (0x80, "docs.example.com", "/public/..;/admin", []),
        (0x80, "docs.example.com", "/public\\..\\admin", []),
        (0x81, "docs.example.com", "/private/report?x=1", [("remote-user", "root")]),
        (0x82, "docs.example.com", "/", [("Remote-Groups", "admins"), ("remote_email", "x@example.com")]),
        (0x80, "blog.example.com", "/wp-admin/", []),
        (0x80, "blog.example.com", "/WP-Admin/options.php", []),
        (0x80, "blog.example.com", "/2024/hello-world", [("remote-user", "admin")]),
        (0x82, "blog.example.com", "/wp-admin/", []),
        (0x81, "admin.example.com", "/", [("REMOTE.NAME", "Mallory")]),
        (0x82, "admin.example.com", "/settings", []),
        (0x89, "admin.example.com", "/", []),
        (0x85, "admin.example.com", "/", []),
        (0x81, "who.example.com", "/", []),
        (0x83, "whoami.example.com", "/", []),
        (0x81 | 0x20, "legacy.example.com", "/", []),
        (0x80 | 0x30, "legacy.example.com", "/", [("x-forwarded-for", "198.51.100.7")]),
        (0x80 | 0x10, "intranet.example.com", "/", [("x-forwarded-for", "2001:db8::1, 10.0.0.1")]),
        (0x80 | 0x40, "admin.example.com", "/", []),
        (0x80, "auth.example.com", "/login?redirect_uri=https%3A%2F%2Fdocs.example.com%2Fprivate", []),
        (0x80, "auth.example.com", "/api/oauth/start/generic?redirect_uri=https%3A%2F%2Fadmin.example.com%2F", []),
        (0x80, "auth.example.com", "/api/oauth/callback/generic?code=c&state=s&iss=https%3A%2F%2Fid.example.com", []),
        (0x81, "auth.example.com", "/logout", []),
        (0x80, "auth.example.com", "/api/healthz", []),
        (0x80, "unknown.example.com", "/", []),
        (0x80, "evil.example.org", "/", []),
    ]
    for flags, host, path, extra in cases:
        lines = [":method: GET", f":authority: {host}", f":path: {path}", f"user-agent: {chrome}",
                 "accept: text/html", "cookie: theme=dark; lang=en"]
        lines += [f"{n}: {v}" for n, v in extra]
        write("request", bytes([flags]) + "\n".join(lines).encode())
    api = ":method: GET\n:authority: docs.example.com\n:path: /api/items\nuser-agent: curl/8.5.0"
    write("request", bytes([0x80]) + api.encode())


def path_seeds():
    for path in ["/", "/public/readme", "/public/../admin", "/public/%2e%2e/admin",
                 "/public/%2E%2e/admin", "/public/%252e%252e/admin", "/public/..;/admin",
                 "/public/..;jsessionid=x/admin", "/public\\..\\admin", "/public/%5c..%5cadmin",
                 "/public%2F..%2Fadmin", "//admin", "/./a/./b/", "/a%20b", "/wp-admin",
                 "/WP-Admin/x", "/.well-known/openid-configuration", "/public/%c0%ae%c0%ae/x",
                 "/public/%00/x", "/a/b/c/../../d"]:
        write("path", b"\x01" + path.encode())


def config_seeds():
    for path in sorted(glob.glob(os.path.join(ROOT, "filter-config", "*.json"))
                       + glob.glob(os.path.join(ROOT, "filter-config", "invalid", "*.json"))):
        if path.endswith("schema.json") or path.endswith("expected.json"):
            continue
        with open(path, "rb") as f:
            write("config", b"\x01" + f.read())
    env = "\n".join([
        "APP_URL=https://tinyauth.example.com",
        "SECRET=replace-with-at-least-32-random-bytes-from-openssl-rand",
        "GENERIC_CLIENT_ID=your-pocket-id-client-id",
        "GENERIC_CLIENT_SECRET=your-pocket-id-client-secret",
        "GENERIC_AUTH_URL=https://pocket-id.example.com/authorize",
        "GENERIC_TOKEN_URL=https://pocket-id.example.com/api/oidc/token",
        "GENERIC_USER_URL=https://pocket-id.example.com/api/oidc/userinfo",
        "GENERIC_SCOPES=openid email profile groups",
        "GENERIC_NAME=Pocket ID",
        "OAUTH_WHITELIST=alice@example.com,bob@example.com",
        "OAUTH_AUTO_REDIRECT=generic",
        "SESSION_EXPIRY=86400",
        "COOKIE_SECURE=true",
        "LOG_LEVEL=info",
    ])
    labels = {"apps": {"whoami": {"labels": {"tinyauth.oauth.groups": "admins",
                                                 "tinyauth.allowed": "^/health$",
                                                 "tinyauth.headers": "X-Env=prod"}}}}
    write("config", b"\x01" + json.dumps(labels).encode() + b"\x00" + env.encode())
    v5 = "\n".join([
        "TINYAUTH_APPURL=https://auth.example.com",
        "TINYAUTH_SECRET=replace-with-at-least-32-random-bytes-from-openssl-rand",
        "TINYAUTH_OAUTH_PROVIDERS_POCKETID_ISSUER=https://pocket-id.example.com",
        "TINYAUTH_OAUTH_PROVIDERS_POCKETID_CLIENTID=tinyauth",
        "TINYAUTH_OAUTH_PROVIDERS_POCKETID_CLIENTSECRET=from-pocket-id",
        "TINYAUTH_APPS_WHOAMI_OAUTH_GROUPS=admins",
        "TINYAUTH_AUTH_IP_BLOCK=203.0.113.0/24",
        "TINYAUTH_SERVER_PORT=3000",
    ])
    write("config", b"\x01\x00" + v5.encode())


def provider_seeds():
    # Mode byte: low 3 bits the document, top 3 bits the status (0: 200).
    discovery = {
        "issuer": ISSUER,
        "authorization_endpoint": ISSUER + "/authorize",
        "end_session_endpoint": ISSUER + "/api/oidc/end-session",
        "token_endpoint": ISSUER + "/api/oidc/token",
        "userinfo_endpoint": ISSUER + "/api/oidc/userinfo",
        "introspection_endpoint": ISSUER + "/api/oidc/introspect",
        "jwks_uri": ISSUER + "/.well-known/jwks.json",
        "scopes_supported": ["openid", "profile", "email", "groups", "offline_access"],
        "claims_supported": ["sub", "given_name", "family_name", "name", "display_name", "email",
                             "email_verified", "preferred_username", "picture", "groups",
                             "auth_time", "amr"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "authorization_response_iss_parameter_supported": True,
    }
    write("provider", b"\x00" + json.dumps(discovery).encode())
    write("provider", b"\x00" + json.dumps(dict(discovery, issuer=ISSUER + "/")).encode())
    write("provider", bytes([5 << 5]) + b"upstream connect error or disconnect/reset before headers")
    jwk = rsa_jwk()
    write("provider", b"\x01" + json.dumps({"keys": [jwk]}).encode())
    write("provider", b"\x01" + json.dumps({"keys": [dict(jwk, kid="key-b"), {"kty": "oct", "k": "c2VjcmV0"},
                                                       {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA"}]}).encode())
    token = {"access_token": "access-token-value", "token_type": "bearer", "expires_in": 3599,
             "id_token": "$IDT", "refresh_token": "refresh-token-value"}
    write("provider", b"\x03" + json.dumps(token).encode())
    write("provider", b"\x03" + json.dumps(dict(token, token_type="Bearer", scope="openid email")).encode())
    signed = rs256(id_claims(PROVIDER_NONCE, alice()))
    write("provider", b"\x02" + json.dumps(dict(token, id_token=signed)).encode())
    write("provider", b"\x02" + json.dumps({"access_token": "at", "token_type": "DPoP"}).encode())
    write("provider", bytes([2 | (3 << 5)]) + json.dumps({"error": "invalid_grant", "error_description": "x"}).encode())
    for user in [alice(),
                 {"sub": "0c2e-bob", "email": "bob@example.com", "preferred_username": "bob",
                  "name": "Bob Brown", "groups": ["users"]},
                 {"sub": "d4-dave", "preferred_username": "dave", "name": "Dave", "groups": "users, ops"},
                 {"sub": "x", "email": "mallory@evil.test", "groups": []}]:
        write("provider", b"\x04" + json.dumps(user).encode())
        write("provider", b"\x05" + json.dumps(user).encode())
    write("provider", b"\x06")
    # Bit 3: the same replies during a session's re-check (refresh token grant, then userinfo).
    refreshed = {"access_token": "new-access-token", "token_type": "bearer", "expires_in": 3599,
                 "refresh_token": "rotated-refresh-token"}
    write("provider", bytes([8 | 2]) + json.dumps(refreshed).encode())
    write("provider", bytes([8 | 3]) + json.dumps(dict(refreshed, id_token="$IDT")).encode())
    write("provider", bytes([8 | 2 | (3 << 5)]) + json.dumps({"error": "invalid_grant"}).encode())
    write("provider", bytes([8 | 2 | (6 << 5)]) + b"upstream connect error or disconnect/reset before headers")
    write("provider", bytes([8 | 2 | (7 << 5)]))
    for user in [alice(), dict(alice(), groups=["users"]), dict(alice(), sub="someone-else"),
                 dict(alice(), email="alice@evil.test"), {"error": "invalid_token"}]:
        write("provider", bytes([8 | 4]) + json.dumps(user).encode())
    write("provider", bytes([8 | 4 | (4 << 5)]) + json.dumps({"error": "invalid_token"}).encode())


def id_token_seeds():
    claims = id_claims(ID_TOKEN_NONCE, {"sub": "a11ce", "email": "alice@example.com", "groups": ["admins"]})
    write("id_token", b"\x00" + rs256(claims, kid="rs256").encode())
    write("id_token", b"\x00" + rs256(dict(claims, nonce="other"), kid="rs256").encode())
    for pick in range(7):
        write("id_token", bytes([1, pick]))
    for pick in range(0, 60, 7):
        write("id_token", bytes([2, pick]))
    write("id_token", bytes([3, 0, 1, 2]))
    header = json.dumps({"alg": "EdDSA", "kid": "eddsa"})
    ed = {"iss": ISSUER, "aud": ["tinyauth"], "sub": "a11ce", "exp": NOW + 3600, "iat": NOW,
          "nonce": ID_TOKEN_NONCE, "azp": "tinyauth"}
    write("id_token", b"\x04" + header.encode() + b"\x00" + json.dumps(ed).encode())
    write("id_token", b"\x04" + header.encode() + b"\x00" + json.dumps(dict(ed, aud="tinyauth")).encode())


def cookies_seeds():
    # Structured (arbitrary) input: a few byte patterns; the harness seals
    # real cookies from whatever they decode to.
    for seed in [b"", b"\x05alice\x05admin\x01\x00" * 4, bytes(range(64))]:
        write("cookies", seed)


if __name__ == "__main__":
    request_seeds()
    path_seeds()
    config_seeds()
    provider_seeds()
    id_token_seeds()
    cookies_seeds()
    for target in sorted(os.listdir(OUT)):
        print(f"{target}: {len(os.listdir(os.path.join(OUT, target)))} seeds")
