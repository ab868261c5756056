"""The fixed credentials every test instance of the service runs with."""

from __future__ import annotations

ADMIN_TOKEN = "klo_test-admin-token-0123456789abcdefghijklmnop"
# 32 bytes 0..31 in URL-safe base64: the master key that seals DevSecrets.
SECRET_KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
