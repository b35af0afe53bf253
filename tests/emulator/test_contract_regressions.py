"""Answers the contract fuzzing (``tests/server/test_contract_fuzz.py``) found wrong, each held
right here, in process and through the providers' own SDKs where they reach the call."""

from __future__ import annotations

from batchsim import Emulator


def test_a_file_uploaded_after_a_deletion_keeps_its_own_bytes_and_every_other_files() -> None:
    """Stored files were named after how many files were held: once one was deleted, the next
    upload took the path of a live file, replaced its bytes, and deleting it lost them (a
    download then failed with a 500)."""
    sim = Emulator()
    client = sim.openai_client(max_retries=0)
    contents = {name: f"{name} bytes\n".encode() * (i + 1) for i, name in enumerate("abcd")}
    ids = {
        name: client.files.create(file=(f"{name}.txt", data), purpose="user_data").id for name, data in contents.items()
    }
    client.files.delete(ids["a"])
    ids["e"] = client.files.create(file=("e.txt", b"e bytes\n"), purpose="user_data").id
    contents["e"] = b"e bytes\n"
    client.files.delete(ids["e"])
    for name in "bcd":
        assert client.files.content(ids[name]).content == contents[name], name
