"""`callbridge.testing`, the kit users run in their own CI: the README's example runs here as it is printed,
and the kit stays free of test frameworks and of the gateway's internals."""

from __future__ import annotations

import ast
import hashlib
import hmac
import re
import sys
from pathlib import Path

from callbridge.testing import Emulator, Gateway, Scene, WebhookReceiver, verify_signature, wait_until

ROOT = Path(__file__).resolve().parent.parent


# --- README: Testing your integration (keep this block identical to the README's) ---
def test_alice_answers_hears_us_and_the_call_ends_cleanly(tmp_path) -> None:
    with Emulator(tmp_path) as emulator, Gateway(tmp_path, ice_hosts="127.0.0.1") as gateway, WebhookReceiver() as app:
        scene = Scene(gateway, emulator, app).setup()
        alice = scene.user(say="tone:440", answer_after_ms=0)
        call_id = scene.make_call(alice)
        assert scene.wait_state(call_id, "active")["Phone"] == alice
        wait_until(lambda: scene.heard(call_id)["seconds"] >= 1, what="Alice to hear the gateway's audio")
        scene.post("/call/end", {"CallID": call_id})
        assert scene.wait_event(call_id, "CallTerminate")["Reason"] == "ended by the app"
        assert scene.call_status(call_id)["State"] == "ended"


# --- end of the README's example ---


def test_the_readme_shows_the_example_that_runs_here() -> None:
    source = Path(__file__).read_text()
    example = source.split("keep this block identical to the README's) ---\n")[1].split("# --- end")[0]
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Testing your integration")[1].split("\n## ")[0]
    shown = re.search(r"```python\n(.*?)```", section, re.S)
    assert shown is not None, "the README's section has no Python example"
    assert example.strip() in shown.group(1), "README.md and tests/test_testing_kit.py show different examples"


def test_the_kit_imports_no_test_framework_and_no_gateway_internals() -> None:
    allowed = {"httpx", "asyncpg", *sys.stdlib_module_names}  # asyncpg: PostgreSQL's driver, for throwaway_database
    for path in (ROOT / "callbridge" / "testing").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in allowed or name == "__future__", f"{path.name} imports {name}"


def test_a_signature_is_checked_as_the_readme_says() -> None:
    body = b"token=t&jsonData=%7B%7D"
    header = "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert verify_signature("s3cret", body, header)
    assert not verify_signature("other", body, header)
    assert not verify_signature("s3cret", body, None)
