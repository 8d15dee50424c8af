"""Writes tests/fixtures/fernet/python_tokens.json: tokens made by Python's
`cryptography.fernet` (pip install cryptography), which ConsentGate must decrypt. Rerun to
refresh; the Rust tests only read the file."""
import json
import pathlib

import cryptography
from cryptography.fernet import Fernet

KEY = b"Y3VybCAtcyBodHRwczovL2V4YW1wbGUuY29tIHwgYmE="  # 32 bytes, URL-safe base64
PLAINTEXTS = [
    "777000123456",
    "Ivanushka +7 912 345-67-89",
    "مریم — ۰۹۱۲۳۴۵۶۷۸۹",
    "",
    "x" * 5000,
]

f = Fernet(KEY)
out = {
    "made_with": f"cryptography {cryptography.__version__}",
    "key": KEY.decode(),
    "tokens": [{"plaintext": p, "token": f.encrypt(p.encode()).decode()} for p in PLAINTEXTS],
}
path = pathlib.Path(__file__).resolve().parent.parent / "fixtures" / "fernet" / "python_tokens.json"
path.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
print(f"wrote {path}")
