"""What each ADW agent plausibly does: its turns, tool calls and tool outputs, as plain data.

`script()` returns the turns of one run; `livewatch.demo.stream.Conversation` turns them into
stream-json lines. The files and outputs are pieces of a made-up app (see `project`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from livewatch.demo.project import (
    BACKEND_TESTS,
    FRONTEND_TESTS,
    bun_out,
    diff_stat,
    main_ts,
    module_py,
    plan_md,
    pytest_out,
    readme,
    server_py,
    test_py,
)
from livewatch.demo.tools import (
    Beat,
    Task,
    Turn,
    bash,
    edit,
    edit_miss,
    glob,
    grep,
    missing,
    one,
    read,
    todos,
    write,
)

PUSHED = "To github.com:acme/shop.git\n   3f1c2d9..8a7b6e5  main -> main"


@dataclass
class Script:
    turns: list[Turn]  # the last one is the closing text, with no tool call
    failure: str  # the closing text when the run fails instead
    closing_at: int = 0  # the first of the turns that wrap the work up (write the plan, ...)


Maker = Callable[[Task, random.Random], Beat]


# --- beats: one or a few turns that belong together -----------------------------------------


def _read_readme(task: Task, rng: random.Random) -> Beat:
    return one("Let me look at the README first.", read(task, "README.md", readme()))


def _read_server(task: Task, rng: random.Random) -> Beat:
    return one("Now the API routes.", read(task, "app/server/server.py", server_py(task)))


def _read_module(task: Task, rng: random.Random) -> Beat:
    rel = f"app/server/core/{task.module}.py"
    return one(None, read(task, rel, module_py(task)))


def _read_client(task: Task, rng: random.Random) -> Beat:
    return one(
        "Checking how the client loads data.", read(task, "app/client/src/main.ts", main_ts(task))
    )


def _read_both(task: Task, rng: random.Random) -> Beat:
    """Two reads in one message: two tool_use lines, then two tool_result lines."""
    server = read(task, "app/server/server.py", server_py(task))
    client = read(task, "app/client/src/main.ts", main_ts(task))
    return one("I'll read the server and the client side by side.", server, client)


def _grep(task: Task, rng: random.Random) -> Beat:
    word = task.module.split("_")[0]
    files = ["app/server/server.py", "app/server/core/orders.py", "app/server/core/users.py"]
    hits = rng.sample([*files, f"app/server/core/{task.module}.py"], rng.randint(1, 3))
    return one(f"Searching for existing code about {word}.", grep(task, word, sorted(hits)))


def _glob_server(task: Task, rng: random.Random) -> Beat:
    files = [
        "app/server/server.py",
        "app/server/core/orders.py",
        "app/server/core/users.py",
        "app/server/core/__init__.py",
        "app/server/tests/test_orders.py",
    ]
    return one(None, glob(task, "app/server/**/*.py", files))


def _git_log(task: Task, rng: random.Random) -> Beat:
    out = "\n".join(
        f"{rng.getrandbits(28):07x} {msg}"
        for msg in (
            "Merge pull request #98 from acme/chore-deps",
            "Add order search",
            "Fix pagination off-by-one",
            "Move settings into core/",
        )
    )
    return one(None, bash("git log --oneline -8", "Show recent commits", out, ms=60))


def _missing_file(task: Task, rng: random.Random) -> Beat:
    return [
        Turn(None, (missing(task, f"app/server/core/{task.module}_service.py"),)),
        Turn("No such file yet; the area is new.", (_glob_server(task, rng)[0].calls[0],)),
    ]


def _plan_template(task: Task, rng: random.Random) -> Beat:
    kind = task.issue_class.strip("/") or "feature"
    body = (
        f"# {kind.capitalize()} Planning\n\nCreate a new plan in specs/*.md to resolve the {kind}."
    )
    return one("Reading the plan format.", read(task, f".claude/commands/{kind}.md", body))


def _read_any(task: Task, rng: random.Random) -> Beat:
    files = {
        "README.md": readme(),
        "app/server/server.py": server_py(task),
        f"app/server/core/{task.module}.py": module_py(task),
        "app/client/src/main.ts": main_ts(task),
        f"app/server/tests/test_{task.module}.py": test_py(task),
    }
    rel = rng.choice(sorted(files))
    return one(rng.choice((None, f"Looking at `{rel}`.")), read(task, rel, files[rel]))


def _grep_any(task: Task, rng: random.Random) -> Beat:
    pattern = rng.choice((task.module, "HTTPException", "APIRouter", "TODO", "def test_"))
    files = ["app/server/server.py", f"app/server/core/{task.module}.py", "app/client/src/main.ts"]
    return one(None, grep(task, pattern, sorted(rng.sample(files, rng.randint(0, 2)))))


def _read_plan(task: Task, rng: random.Random) -> Beat:
    return one(f"I'll read the plan in {task.plan}.", read(task, task.plan, plan_md(task)))


def _edit_module(task: Task, rng: random.Random) -> Beat:
    old = "    limit: int = 100"
    new = f"    limit: int = 100\n    # {task.title}\n    strict: bool = False"
    return one("Adding the new setting.", edit(task, f"app/server/core/{task.module}.py", old, new))


def _edit_server(task: Task, rng: random.Random) -> Beat:
    old = "from core import orders, users"
    new = f"from core import orders, users\nfrom core.{task.module} import router as {task.module}"
    return one("Mounting the router.", edit(task, "app/server/server.py", old, new, 3))


def _write_module(task: Task, rng: random.Random) -> Beat:
    rel = f"app/server/core/{task.module}.py"
    return one(f"Creating `{rel}`.", write(task, rel, module_py(task)))


def _write_tests(task: Task, rng: random.Random) -> Beat:
    rel = f"app/server/tests/test_{task.module}.py"
    return one("Now the tests.", write(task, rel, test_py(task)))


def _edit_client(task: Task, rng: random.Random) -> Beat:
    old = 'const rows = await api.get("/api/orders");'
    new = f'const rows = await api.get("/api/{task.kebab}");'
    return one(None, edit(task, "app/client/src/main.ts", old, new, 7))


def _edit_retry(task: Task, rng: random.Random) -> Beat:
    """An edit that misses (the file changed), a fresh read, and the edit again."""
    rel = "app/server/server.py"
    old = "app = FastAPI(title='Acme Shop API')"
    new = f'app = FastAPI(title="Acme Shop API")\napp.include_router({task.module}, prefix="/api")'
    return [
        Turn(None, (edit_miss(task, rel, old, new),)),
        Turn("The quotes differ; re-reading the file.", (read(task, rel, server_py(task)),)),
        Turn(None, (edit(task, rel, old.replace("'", '"'), new, 6),)),
    ]


def _ruff(task: Task, rng: random.Random) -> Beat:
    cmd = "cd app/server && uv run ruff check ."
    return one(None, bash(cmd, "Lint the backend", "All checks passed!", ms=700))


def _tsc(task: Task, rng: random.Random) -> Beat:
    cmd = "cd app/client && bun run tsc --noEmit"
    return one("Type-checking the client.", bash(cmd, "Type-check the client", "", ms=4200))


def _curl_health(task: Task, rng: random.Random) -> Beat:
    cmd = f"curl -s http://localhost:{task.backend_port}/api/health"
    return one(None, bash(cmd, "Check the backend is up", '{"status":"ok"}', ms=80))


def _screenshot(task: Task, rng: random.Random, n: int = 1) -> Beat:
    img = f"agents/{task.adw_id}/reviewer/review_img/{n:02d}_{task.module}.png"
    cmd = f"uv run python scripts/screenshot.py http://localhost:{task.frontend_port} {img}"
    return one(f"Taking screenshot {n}.", bash(cmd, "Screenshot the page", f"Saved {img}", ms=3100))


def _pytest(task: Task, rng: random.Random) -> Beat:
    cmd = "cd app/server && uv run pytest -q"
    return one(None, bash(cmd, "Run the backend tests", pytest_out(task, (), False), ms=6800))


def _diff(task: Task, rng: random.Random) -> Beat:
    return one(None, bash("git diff origin/main --stat", "Summarise the change", diff_stat(task)))


def _hazards(task: Task, rng: random.Random) -> Beat:
    """A secret in a command and markup in an output: the dashboard must mask and escape them."""
    secret = "sk-ant-demo-0000000000000000"
    upstream = f"curl -s -H 'Authorization: Bearer {secret}' https://api.example.com/v1/health"
    search = (
        f"curl -s 'http://localhost:{task.backend_port}/api/search?q=<script>alert(1)</script>'"
    )
    echoed = '{"query":"<script>alert(1)</script>","results":[]}'
    shot = f"uv run python scripts/screenshot.py http://localhost:{task.frontend_port}/settings"
    refused = f"Error: connect ECONNREFUSED 127.0.0.1:{task.frontend_port}"
    return [
        Turn(
            "Checking that the upstream API answers.",
            (bash(upstream, "Ping the upstream API", '{"status":"ok","region":"eu-west-1"}'),),
        ),
        Turn(
            "Does the search endpoint echo markup back?",
            (bash(search, "Probe the search endpoint with markup", echoed, ms=90),),
        ),
        Turn(
            "It echoes the query as JSON; the client renders it with textContent, so it is "
            "safe. Now the settings page.",
            (bash(shot, "Screenshot the settings page", refused, 1),),
        ),
    ]


def _glob_docs(task: Task, rng: random.Random) -> Beat:
    return one(None, glob(task, "app_docs/*.md", ["app_docs/feature-orders.md"]))


def _write_doc(task: Task, rng: random.Random) -> Beat:
    body = (
        f"# {task.title}\n\n**ADW ID:** {task.adw_id}\n\n## Overview\n{task.title}.\n\n"
        f"## Usage\n`GET /api/{task.kebab}` returns the settings."
    )
    return one("Writing the feature doc.", write(task, f"app_docs/feature-{task.adw_id}.md", body))


def _index_doc(task: Task, rng: random.Random) -> Beat:
    entry = f"## Docs\n- app_docs/feature-{task.adw_id}.md: when working on {task.module}"
    return one(None, edit(task, ".claude/commands/conditional_docs.md", "## Docs", entry, 1))


def _git_status(task: Task, rng: random.Random) -> Beat:
    return one(None, bash("git status --short", "Check the worktree is clean", ""))


def _pr_state(task: Task, rng: random.Random) -> Beat:
    state = '{"mergeable":"MERGEABLE","state":"OPEN"}'
    return one(None, bash("gh pr view --json state,mergeable", "Check the PR", state))


def _merge(task: Task, rng: random.Random) -> Beat:
    command = f"git checkout main && git merge --no-ff {task.branch_name}"
    return one("Merging.", bash(command, "Merge into main", "Merge made by the 'ort' strategy."))


def _push(task: Task, rng: random.Random) -> Beat:
    return one(None, bash("git push origin main", "Push main", PUSHED))


# --- one playbook per agent -----------------------------------------------------------------


@dataclass(frozen=True)
class Playbook:
    opening: tuple[Maker, ...]
    pool: tuple[Maker, ...]
    closing: tuple[Maker, ...]
    turns: tuple[int, int]  # a typical run's length, in assistant messages
    summary: Callable[[Task], str]
    failure: Callable[[Task], str]
    goal: Callable[[Task], str]  # the first message's text
    todo: tuple[str, ...] = ()


def _failing_summary(task: Task) -> str:
    n = len(task.tests)
    total = BACKEND_TESTS + FRONTEND_TESTS
    return f"{n} of {total} tests still fail after 3 attempts: {', '.join(task.tests)}"


PLAYBOOKS: dict[str, Playbook] = {
    "sdlc_planner": Playbook(
        opening=(_read_readme, _glob_server),
        pool=(
            _read_server,
            _grep,
            _grep_any,
            _read_client,
            _git_log,
            _plan_template,
            _missing_file,
            _read_both,
        ),
        closing=(lambda t, r: one("Writing the plan.", write(t, t.plan, plan_md(t))),),
        turns=(8, 13),
        summary=lambda t: f"Plan written to {t.plan} ({t.title}).",
        failure=lambda t: "Could not write a plan: the issue does not say which page is meant.",
        goal=lambda t: f"I'll read issue #{t.issue_number} and write a plan for: {t.title}.",
        todo=(
            "Read the README and project layout",
            "Find the code the issue touches",
            "Write the plan",
        ),
    ),
    "sdlc_implementor": Playbook(
        opening=(_read_plan,),
        pool=(
            _write_module,
            _edit_server,
            _edit_module,
            _write_tests,
            _edit_client,
            _grep,
            _edit_retry,
            _ruff,
            _read_module,
            _tsc,
            _read_both,
            _read_any,
            _grep_any,
        ),
        closing=(_pytest, _diff),
        turns=(14, 26),
        summary=lambda t: "Implemented the plan: 6 files changed, 214 insertions, 38 deletions.",
        failure=lambda t: "Stopped: the backend no longer imports (ImportError in server.py).",
        goal=lambda t: "I'll implement the plan step by step, starting with the data model.",
        todo=(
            "Add the settings model and router",
            "Mount the router",
            "Update the client",
            "Add tests",
            "Run the validation commands",
        ),
    ),
    "test_runner": Playbook(
        opening=(),  # see _test_beats: it depends on whether the run fails
        pool=(_read_any, _grep_any, _tsc, _ruff, _curl_health, _read_any, _grep),
        closing=(
            lambda t, r: one(
                None, bash("cd app/client && bun test", "Run the client tests", bun_out(), ms=2300)
            ),
        ),
        turns=(9, 16),
        summary=lambda t: (
            f"All {BACKEND_TESTS + FRONTEND_TESTS} tests pass "
            f"(backend {BACKEND_TESTS}, frontend {FRONTEND_TESTS})."
        ),
        failure=_failing_summary,
        goal=lambda t: "I'll run the test suite and fix any failures.",
        todo=("Run the backend tests", "Fix failures", "Run the client tests"),
    ),
    "reviewer": Playbook(
        opening=(_read_plan, _diff),
        pool=(_read_server, _read_module, _read_client, _curl_health, _grep, _grep_any),
        closing=(lambda t, r: _screenshot(t, r, 1), lambda t, r: _screenshot(t, r, 2)),
        turns=(6, 10),
        summary=lambda t: "Review passed: implementation matches the spec; 2 screenshots saved.",
        failure=lambda t: "Review failed: the settings page does not render (blocker).",
        goal=lambda t: "I'll compare the implementation against the spec and take screenshots.",
    ),
    "documenter": Playbook(
        opening=(_diff, _read_plan),
        pool=(_glob_docs, _read_readme, _read_module),
        closing=(_write_doc, _index_doc),
        turns=(5, 8),
        summary=lambda t: f"Documentation added: app_docs/feature-{t.adw_id}.md.",
        failure=lambda t: "Could not update the docs: app_docs/ is missing from the worktree.",
        goal=lambda t: "I'll document the change in app_docs/ and update the README.",
    ),
    "shipper": Playbook(
        opening=(_git_status,),
        pool=(_pr_state,),
        closing=(_merge, _push),
        turns=(3, 5),
        summary=lambda t: f"Merged {t.branch_name} into main and pushed.",
        failure=lambda t: "Merge failed: the branch conflicts with main.",
        goal=lambda t: "Shipping: checking the branch is ready to merge.",
    ),
}
GENERIC = Playbook(
    opening=(_git_status,),
    pool=(_read_readme, _grep, _read_server),
    closing=(),
    turns=(3, 7),
    summary=lambda t: "Done.",
    failure=lambda t: "The agent gave up after 3 retries.",
    goal=lambda t: "Let me look at the repository.",
)


def _test_beats(task: Task, rng: random.Random, fail: bool) -> tuple[list[Beat], list[Beat]]:
    """The test runner's opening and anchors: a red run, a look, a fix, then green or red again.

    A failing run makes three attempts, spread through the run (the anchors).
    """
    cmd = "cd app/server && uv run pytest -x -q"
    red = bash(cmd, "Run the backend tests", pytest_out(task, task.tests[:1], True), 1, 5400)
    opening = [
        one("Running the backend tests first.", red),
        one(
            "One new test fails with a 404; the router is not mounted yet.",
            read(task, "app/server/server.py", server_py(task)),
        ),
        _edit_server(task, rng),
    ]
    still = task.tests if fail else ()
    rerun = "cd app/server && uv run pytest -q"
    again = bash(rerun, "Run the backend tests again", pytest_out(task, still, False), int(fail))
    if not fail:
        return [*opening, one("Re-running the tests.", again)], []
    rel = f"app/server/core/{task.module}.py"
    anchors = [
        [
            Turn(f"Attempt {n}: re-running the tests.", (again,)),
            Turn(None, (read(task, rel, module_py(task)),)),
            *_edit_module(task, rng),
        ]
        for n in (1, 2, 3)
    ]
    return opening, anchors


def script(
    agent: str,
    task: Task,
    rng: random.Random,
    *,
    turns: int | None = None,
    min_turns: int = 0,
    fail: bool = False,
    hazards: bool = False,
) -> Script:
    """The turns of one run of `agent`: exactly `turns` messages when given."""
    book = PLAYBOOKS.get(agent, GENERIC)
    total = turns if turns is not None else max(min_turns, rng.randint(*book.turns))
    opening = [b(task, rng) for b in book.opening]
    anchors = [_hazards(task, rng)] if hazards else []
    if agent == "test_runner":
        opening, anchors = _test_beats(task, rng, fail)
    first = opening[0] if opening else [Turn(None)]
    todo = (todos(list(book.todo), 0),) if book.todo else ()
    # The goal text leads the first message, with its tool calls and any todo list.
    opening = [[Turn(book.goal(task), todo + first[0].calls), *first[1:]], *opening[1:]]
    closing = [b(task, rng) for b in book.closing]
    if book.todo and not fail:  # the todo list, all ticked, just before the closing text
        closing.append(one(None, todos(list(book.todo), len(book.todo))))
    head = [t for beat in opening for t in beat]
    tail = [t for beat in closing for t in beat]
    room = max(0, total - 1 - len(head) - len(tail) - sum(map(len, anchors)))
    middle: list[Turn] = []
    pool: list[Maker] = []
    while len(middle) < room:
        if not pool:
            pool = list(book.pool)
            rng.shuffle(pool)
        middle += pool.pop()(task, rng)[: room - len(middle)]
    # Anchors (attempts, the hazards) go evenly through the middle.
    cuts = [round(len(middle) * (n + 1) / (len(anchors) + 1)) for n in range(len(anchors))]
    body = head
    for anchor, start, end in zip(anchors, [0, *cuts], cuts, strict=False):
        body = [*body, *middle[start:end], *anchor]
    body = [*body, *middle[cuts[-1] if cuts else 0 :], *tail]
    if len(body) > total - 1:  # a short run: keep its start and its end
        keep = max(0, total - 1)
        body = body[: (keep + 1) // 2] + body[len(body) - keep // 2 :]
    closing_text = book.failure(task) if fail else book.summary(task)
    closing_at = max(0, len(body) - len(tail))
    return Script([*body, Turn(closing_text)], book.failure(task), closing_at)
