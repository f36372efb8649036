"""The made-up "Acme Shop" app the demo agents work on: its files and command outputs."""

from __future__ import annotations

from livewatch.demo.tools import Task

BACKEND_TESTS, FRONTEND_TESTS = 118, 24


def camel(task: Task) -> str:
    return "".join(w.capitalize() for w in task.module.split("_"))


def readme() -> str:
    return (
        "# Acme Shop\n\nStorefront and admin for Acme: a FastAPI backend in `app/server` and a\n"
        "Vite + TypeScript client in `app/client`.\n\n## Run it\n\n"
        "    ./scripts/start.sh   # backend on :8000, client on :5173\n\n## Tests\n\n"
        "    cd app/server && uv run pytest\n    cd app/client && bun test\n\n## Layout\n\n"
        "- `app/server/server.py`: the API routes\n"
        "- `app/server/core/`: business logic, one module per area\n"
        "- `app/client/src/`: the single-page client\n- `specs/`: plans written by the planner"
    )


def server_py(task: Task) -> str:
    return (
        "from fastapi import FastAPI, HTTPException\n\nfrom core import orders, users\n\n"
        'app = FastAPI(title="Acme Shop API")\n\n\n@app.get("/api/health")\n'
        'def health() -> dict[str, str]:\n    return {"status": "ok"}\n\n\n'
        '@app.get("/api/orders/{order_id}")\ndef get_order(order_id: int) -> orders.Order:\n'
        "    order = orders.find(order_id)\n    if order is None:\n"
        '        raise HTTPException(status_code=404, detail="order not found")\n    return order'
    )


def module_py(task: Task) -> str:
    m, c = task.module, camel(task)
    return (
        f'"""{task.title}."""\n\nfrom fastapi import APIRouter\nfrom pydantic import BaseModel\n\n'
        f"router = APIRouter()\n\n\nclass {c}Settings(BaseModel):\n    enabled: bool = True\n"
        f'    limit: int = 100\n\n\n@router.get("")\ndef read_{m}() -> {c}Settings:\n'
        f"    return {c}Settings()"
    )


def main_ts(task: Task) -> str:
    return (
        'import { api } from "./api";\nimport { renderTable } from "./table";\n\n'
        'const root = document.querySelector<HTMLDivElement>("#app")!;\n\n'
        "async function main(): Promise<void> {\n"
        '  const rows = await api.get("/api/orders");\n'
        "  root.replaceChildren(renderTable(rows));\n"
        "}\n\nmain().catch((error) => console.error(error));"
    )


def test_py(task: Task) -> str:
    m = task.module
    return (
        "from fastapi.testclient import TestClient\n\nfrom server import app\n\n"
        f"client = TestClient(app)\n\n\ndef {task.tests[0]}() -> None:\n"
        f'    response = client.get("/api/{task.kebab}")\n    assert response.status_code == 200\n'
        f'    assert response.json()["enabled"] is True\n\n\ndef {task.tests[1]}() -> None:\n'
        f'    assert client.get("/api/{task.kebab}").json()["limit"] == 100\n\n\n'
        f"def {task.tests[2]}() -> None:\n"
        f'    assert client.get("/api/{task.kebab}?q=").status_code == 200  # {m}'
    )


def plan_md(task: Task) -> str:
    kind = task.issue_class.strip("/").capitalize() or "Feature"
    m = task.module
    return (
        f"# {kind}: {task.title}\n\n## Metadata\nissue_number: `{task.issue_number}`\n"
        f"adw_id: `{task.adw_id}`\n\n## Description\n{task.title}. The change lives in a new\n"
        f"`core/{m}.py` module, mounted in `server.py` and shown by the client.\n\n"
        f"## Relevant Files\n- `app/server/server.py`: mounts the router\n"
        f"- `app/server/core/{m}.py`: the logic (new)\n- `app/client/src/main.ts`: shows it\n"
        f"- `app/server/tests/test_{m}.py`: tests (new)\n\n## Step by Step Tasks\n"
        f"1. Add the settings model and router in `app/server/core/{m}.py`\n"
        "2. Mount the router in `app/server/server.py`\n"
        "3. Show it in the client (`app/client/src/main.ts`)\n"
        f"4. Add tests in `app/server/tests/test_{m}.py`\n5. Run the validation commands\n\n"
        "## Validation Commands\n- `cd app/server && uv run pytest`\n"
        "- `cd app/client && bun test && bun run tsc --noEmit`"
    )


def pytest_out(task: Task, failing: tuple[str, ...], first_only: bool) -> str:
    """pytest -q output: all green, or some of the new tests failing."""
    if not failing:
        return "." * 60 + " [ 50%]\n" + "." * 58 + f" [100%]\n{BACKEND_TESTS} passed in 4.87s"
    lines = ["=" * 30 + " FAILURES " + "=" * 30]
    for name in failing:
        lines += [
            f"{'_' * 20} {name} {'_' * 20}",
            f"    def {name}() -> None:",
            f'        response = client.get("/api/{task.kebab}")',
            ">       assert response.status_code == 200",
            "E       assert 404 == 200",
            "",
            f"tests/test_{task.module}.py:9: AssertionError",
        ]
    lines.append("=" * 25 + " short test summary info " + "=" * 25)
    lines += [f"FAILED tests/test_{task.module}.py::{n} - assert 404 == 200" for n in failing]
    if first_only:
        lines.append("!" * 20 + " stopping after 1 failures " + "!" * 20)
    passed = BACKEND_TESTS - len(failing)
    return "\n".join(lines) + f"\n{len(failing)} failed, {passed} passed in 5.12s"


def bun_out() -> str:
    return (
        "bun test v1.1.38 (0b1e3a1c)\n\nsrc/table.test.ts:\n"
        "✓ renderTable > renders one row per item [1.20ms]\n"
        "✓ renderTable > escapes cell text [0.41ms]\n\n"
        f" {FRONTEND_TESTS} pass\n 0 fail\n 61 expect() calls\n"
        f"Ran {FRONTEND_TESTS} tests across 6 files. [312.00ms]"
    )


def diff_stat(task: Task) -> str:
    m = task.module
    return (
        f" app/client/src/main.ts               |  18 ++++--\n"
        f" app/server/core/{m}.py{' ' * max(1, 17 - len(m))}|  64 +++++++++\n"
        " app/server/server.py                 |  12 +++-\n"
        f" app/server/tests/test_{m}.py |  71 ++++++++++\n"
        " 6 files changed, 214 insertions(+), 38 deletions(-)"
    )
