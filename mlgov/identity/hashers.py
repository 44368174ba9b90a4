"""A cheaper hash for one-time passwords only.

They carry 96 random bits and must be changed at first sign-in, so the million
PBKDF2 rounds that protect chosen passwords add nothing but half a second to every
tenant and member created. Django re-hashes with the default hasher on first sign-in.
"""

from django.contrib.auth.hashers import PBKDF2PasswordHasher

ONE_TIME_ALGORITHM = "pbkdf2_sha256_otp"


class OneTimePasswordHasher(PBKDF2PasswordHasher):
    algorithm = ONE_TIME_ALGORITHM
    iterations = 10_000
