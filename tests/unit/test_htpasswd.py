"""htpasswd hashes: the $2y$ bcrypt format nginx and the registry read, checked by an independent implementation."""

from __future__ import annotations

from passlib.hash import bcrypt as passlib_bcrypt

from installer.htpasswd import build_htpasswd, hash_password, matches, parse_htpasswd
from installer.secretstr import SecretStr


def test_hash_is_2y_at_the_requested_cost_and_passlib_verifies_it():
    digest = hash_password(SecretStr("pässwörd"), 5)
    assert digest.startswith("$2y$05$") and len(digest) == 60
    assert passlib_bcrypt.verify("pässwörd", digest)
    assert not passlib_bcrypt.verify("password", digest)


def test_matches_reads_hashes_made_elsewhere_and_refuses_others():
    digest = passlib_bcrypt.using(rounds=4, ident="2y").hash("s3cret")
    assert matches(SecretStr("s3cret"), digest)
    assert not matches(SecretStr("s3creT"), digest)
    assert not matches(SecretStr("s3cret"), "{SHA}not-bcrypt")
    assert not matches(SecretStr("s3cret"), "$2y$04$truncated")


def test_build_keeps_a_matching_hash_and_rehashes_a_changed_password():
    old = hash_password(SecretStr("one"), 4)
    kept = parse_htpasswd(build_htpasswd({"admin": SecretStr("one")}, 4, {"admin": old}))
    assert kept == {"admin": old}
    changed = parse_htpasswd(build_htpasswd({"admin": SecretStr("two")}, 4, {"admin": old}))
    assert changed["admin"] != old and matches(SecretStr("two"), changed["admin"])
    recosted = parse_htpasswd(build_htpasswd({"admin": SecretStr("one")}, 5, {"admin": old}))
    assert recosted["admin"].startswith("$2y$05$")
