"""Bearer tokens against a JWKS served on loopback: what verifies, what is refused and why, and how
often the issuer is asked for its keys."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.data.callers import Caller, PersonRef, PersonRefKind, Role
from gateway.server.auth import AuthUnavailable, Unauthenticated
from gateway.server.auth.jwks import JwksCache
from gateway.server.auth.tokens import TokenVerifier
from gateway.sources import Source
from sandbox.server import free_port
from tests.server.auth.conftest import AUDIENCE, ISSUER, KID, Issuer, hs256, public_jwk, unsigned


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def verifier(issuer: Issuer, clock: Clock) -> AsyncIterator[TokenVerifier]:
    keys = JwksCache(issuer.jwks_url, clock=clock)
    yield TokenVerifier(keys, issuer=ISSUER, audiences=[AUDIENCE])
    await keys.aclose()


async def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        await verifier.verify(token)
    return raised.value.message


async def test_a_valid_token_makes_its_caller(verifier: TokenVerifier, issuer: Issuer) -> None:
    token = issuer.mint()
    caller = await verifier.verify(token)
    assert caller == Caller(
        name="f3a1-trainee",
        role=Role.TRAINEE,
        person=PersonRef(PersonRefKind.EMAIL, email="ava.smith0@example.com"),
        # The token's own `exp`: claims made again could fall in the next second.
        expires_at=float(jwt.decode(token, options={"verify_signature": False})["exp"]),
    )
    assert token not in repr(caller)


async def test_expired_and_not_yet_valid_tokens_are_refused_past_the_leeway(
    verifier: TokenVerifier, issuer: Issuer
) -> None:
    now = int(time.time())
    assert "expired" in await refused(verifier, issuer.mint(exp=now - 60))
    assert "not valid yet" in await refused(verifier, issuer.mint(nbf=now + 120))
    # Clocks a few seconds apart are forgiven.
    assert (await verifier.verify(issuer.mint(exp=now - 10))).role is Role.TRAINEE
    assert (await verifier.verify(issuer.mint(nbf=now + 10))).role is Role.TRAINEE


async def test_audience_issuer_and_expiry_are_required(verifier: TokenVerifier, issuer: Issuer) -> None:
    assert "audience" in await refused(verifier, issuer.mint(aud="another-api"))
    assert "issuer" in await refused(verifier, issuer.mint(iss="https://evil.example.test"))
    assert "'aud'" in await refused(verifier, issuer.mint(aud=None))
    assert "'exp'" in await refused(verifier, issuer.mint(exp=None))
    assert "'iss'" in await refused(verifier, issuer.mint(iss=None))


async def test_a_token_signed_by_another_key_under_a_known_kid_is_refused(
    verifier: TokenVerifier, issuer: Issuer, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    assert "signature" in await refused(verifier, issuer.mint(key=other_rsa_key))
    forged = issuer.mint()[:-6] + ("AAAAAA" if not issuer.mint().endswith("AAAAAA") else "BBBBBB")
    assert "signature" in await refused(verifier, forged)


async def test_alg_none_and_hmac_are_refused_before_any_key_is_used(
    verifier: TokenVerifier, issuer: Issuer
) -> None:
    claims = issuer.claims()
    for alg in ("none", "None", "NONE"):
        assert "algorithm" in await refused(
            verifier, unsigned({"alg": alg, "typ": "JWT", "kid": KID}, claims)
        )
    assert "algorithm" in await refused(verifier, unsigned({"typ": "JWT", "kid": KID}, claims))
    # The classic confusion: HS256 with the issuer's public key as the shared secret.
    public_pem = issuer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert "algorithm" in await refused(verifier, hs256(claims, public_pem))
    assert "algorithm" in await refused(verifier, hs256(claims, b"a shared secret"))
    assert issuer.hits == []  # none of them made the gateway fetch keys


async def test_an_algorithm_the_key_does_not_sign_with_is_refused(
    verifier: TokenVerifier, issuer: Issuer
) -> None:
    issuer.jwks["keys"] = [public_jwk(issuer.key, KID, alg="RS256")]
    assert "algorithm" in await refused(verifier, issuer.mint(algorithm="RS512"))
    assert "algorithm" in await refused(verifier, issuer.mint(algorithm="PS256"))
    assert (await verifier.verify(issuer.mint(algorithm="RS256"))).role is Role.TRAINEE


async def test_an_rsa_key_without_alg_verifies_each_rsa_algorithm(
    issuer: Issuer, verifier: TokenVerifier
) -> None:
    for algorithm in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"):
        assert (await verifier.verify(issuer.mint(algorithm=algorithm))).role is Role.TRAINEE
    assert "algorithm" in await refused(
        verifier, issuer.mint(algorithm="ES256", key=ec.generate_private_key(ec.SECP256R1()))
    )


async def test_ec_and_eddsa_keys_verify(issuer: Issuer, verifier: TokenVerifier) -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    p256, p384, ed = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP384R1()),
        Ed25519PrivateKey.generate(),
    )
    okp: dict[str, Any] = jwt.algorithms.OKPAlgorithm.to_jwk(ed.public_key(), as_dict=True)
    issuer.jwks["keys"] += [public_jwk(p256, "p256"), public_jwk(p384, "p384"), {**okp, "kid": "ed"}]
    assert (await verifier.verify(issuer.mint(key=p256, kid="p256", algorithm="ES256"))).role is Role.TRAINEE
    assert (await verifier.verify(issuer.mint(key=p384, kid="p384", algorithm="ES384"))).role is Role.TRAINEE
    assert (await verifier.verify(issuer.mint(key=ed, kid="ed", algorithm="EdDSA"))).role is Role.TRAINEE
    # A P-256 key does not verify ES384, whatever the token says.
    assert "algorithm" in await refused(
        verifier, unsigned({"alg": "ES384", "kid": "p256"}, issuer.claims(), b"x" * 96)
    )


async def test_an_unknown_kid_fetches_the_keys_again_at_most_once_a_minute(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock, other_rsa_key: rsa.RSAPrivateKey
) -> None:
    await verifier.verify(issuer.mint())
    assert len(issuer.hits) == 1
    stranger = issuer.mint(key=other_rsa_key, kid="key-2")
    # Just fetched: an unknown kid does not ask again yet, however often it comes.
    for _ in range(5):
        assert "kid" in await refused(verifier, stranger)
    assert len(issuer.hits) == 1
    clock.now += 61
    assert "kid" in await refused(verifier, stranger)
    assert len(issuer.hits) == 2
    for _ in range(5):
        await refused(verifier, stranger)
    assert len(issuer.hits) == 2
    # The issuer rotates in key-2: found at the next fetch a minute on, and kept.
    issuer.jwks["keys"].append(public_jwk(other_rsa_key, "key-2"))
    clock.now += 30
    await refused(verifier, stranger)
    clock.now += 31
    assert (await verifier.verify(stranger)).role is Role.TRAINEE
    assert (await verifier.verify(issuer.mint())).role is Role.TRAINEE
    assert len(issuer.hits) == 3


async def test_keys_are_fetched_again_after_an_hour_and_a_dropped_key_is_refused(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    token = issuer.mint()
    await verifier.verify(token)
    issuer.jwks["keys"] = []
    clock.now += 3599
    await verifier.verify(token)
    clock.now += 2
    assert "kid" in await refused(verifier, token)
    assert len(issuer.hits) == 2


async def test_concurrent_tokens_share_one_fetch(verifier: TokenVerifier, issuer: Issuer) -> None:
    import asyncio

    tokens = [issuer.mint(sub=f"user-{n}") for n in range(10)]
    callers = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert [c.name for c in callers] == [f"user-{n}" for n in range(10)]
    assert len(issuer.hits) == 1


async def test_an_unreachable_issuer_makes_tokens_unverifiable_not_refused(
    issuer: Issuer, clock: Clock
) -> None:
    keys = JwksCache(f"http://127.0.0.1:{free_port()}/jwks.json", clock=clock)
    verifier = TokenVerifier(keys, issuer=ISSUER, audiences=[AUDIENCE])
    with pytest.raises(AuthUnavailable):
        await verifier.verify(issuer.mint())
    await keys.aclose()


async def test_keys_held_outlive_an_issuer_outage(
    verifier: TokenVerifier, issuer: Issuer, clock: Clock
) -> None:
    await verifier.verify(issuer.mint())
    verifier.keys.url = f"http://127.0.0.1:{free_port()}/jwks.json"
    clock.now += 3601
    assert (await verifier.verify(issuer.mint())).role is Role.TRAINEE


@pytest.mark.parametrize(
    ("roles", "role"),
    [
        (["TRAINEE"], Role.TRAINEE),
        (["supervisor"], Role.SUPERVISOR),
        (["Trainee", "ADMIN", "supervisor"], Role.ADMIN),
        ("trainee supervisor", Role.SUPERVISOR),
        (["learngraph-reader", "SUPERVISOR"], Role.SUPERVISOR),
        (["offline_access"], Role.TRAINEE),
        ([], Role.TRAINEE),
        (None, Role.TRAINEE),
        (42, Role.TRAINEE),
    ],
)
async def test_roles_come_from_the_roles_claim(
    verifier: TokenVerifier, issuer: Issuer, roles: object, role: Role
) -> None:
    assert (await verifier.verify(issuer.mint(roles=roles))).role is role


@pytest.mark.parametrize(
    ("person", "expected"),
    [
        ("Ava.Smith0@Example.com", PersonRef(PersonRefKind.EMAIL, email="ava.smith0@example.com")),
        ("damstra:10000", PersonRef(PersonRefKind.ACCOUNT, source=Source.DAMSTRA, native_id="10000")),
        (
            "VXNlcjpkYW1zdHJhOjEyMzQ1",
            PersonRef(PersonRefKind.GLOBAL_ID, source=Source.DAMSTRA, native_id="12345"),
        ),
        (
            "training_records:person-00004",
            PersonRef(PersonRefKind.ACCOUNT, source=Source.TRAINING_RECORDS, native_id="person-00004"),
        ),
    ],
)
async def test_the_person_claim_takes_an_email_a_user_id_or_an_account(
    verifier: TokenVerifier, issuer: Issuer, person: str, expected: PersonRef
) -> None:
    assert (await verifier.verify(issuer.mint(email=person))).person == expected


async def test_a_non_admin_token_must_name_a_person(verifier: TokenVerifier, issuer: Issuer) -> None:
    assert "names no person" in await refused(verifier, issuer.mint(email=None))
    assert "names no person" in await refused(verifier, issuer.mint(email="nobody", roles=["SUPERVISOR"]))
    admin = await verifier.verify(issuer.mint(email=None, roles=["ADMIN"], sub="svc-admin"))
    assert (admin.role, admin.person, admin.name) == (Role.ADMIN, None, "svc-admin")


async def test_claims_are_configurable_and_may_be_nested(issuer: Issuer, clock: Clock) -> None:
    keys = JwksCache(issuer.jwks_url, clock=clock)
    keycloak = TokenVerifier(
        keys, issuer=ISSUER, audiences=["other", AUDIENCE], person_claim="preferred_username",
        roles_claim="realm_access.roles",
    )  # fmt: skip
    token = issuer.mint(
        preferred_username="damstra:10001", realm_access={"roles": ["supervisor"]}, roles=None
    )
    caller = await keycloak.verify(token)
    assert (caller.role, str(caller.person)) == (Role.SUPERVISOR, "damstra:10001")
    auth0 = TokenVerifier(
        keys, issuer=ISSUER, audiences=[AUDIENCE], roles_claim="https://learngraph.example/roles"
    )
    assert (
        await auth0.verify(issuer.mint(**{"https://learngraph.example/roles": ["ADMIN"]}))  # type: ignore[arg-type]
    ).role is Role.ADMIN
    await keys.aclose()


async def test_garbage_is_not_a_token(verifier: TokenVerifier) -> None:
    for garbage in ("", "abc", "a.b.c", "eyJhbGciOiJSUzI1NiJ9.e30"):
        assert await refused(verifier, garbage)


def test_tokens_without_kid_need_a_single_key() -> None:
    keys = JwksCache("http://unused.test/jwks.json")
    one: Callable[[dict[str, Any]], None] = lambda jwks: setattr(keys, "_keys", jwks)  # noqa: E731
    one({"k": {"kty": "RSA"}})
    assert keys._find(None) == {"kty": "RSA"}
    one({"k": {"kty": "RSA"}, "j": {"kty": "RSA"}})
    assert keys._find(None) is None
