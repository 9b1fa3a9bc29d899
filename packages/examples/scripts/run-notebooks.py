#!/usr/bin/python3
"""Execute tapegrad's example notebooks headless with the tslab kernel.

    /usr/bin/python3 scripts/run-notebooks.py --in-place            # all notebooks, save outputs
    /usr/bin/python3 scripts/run-notebooks.py --output-dir /tmp/out notebooks/00-smoke.ipynb

Each notebook runs in its own kernel, with its own folder as the working directory (so
workspace packages resolve from packages/examples/node_modules), and stops at its first failing
cell. tslab reports a TypeScript compile error as text on stderr with an error status, not as an
"error" output, so failures are taken from the execute_reply status that nbclient sees.

Exit status 0 when every notebook ran clean, 1 when one failed, 2 on a set-up problem. With
--json, writes a report that packages/examples/test/notebooks.test.ts reads.

Needs Debian's python3-nbclient, so run it with /usr/bin/python3 (a pyenv python3 has none).
"""

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE.parent / "notebooks"
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def fail_setup(message):
    print(f"run-notebooks: {message}", file=sys.stderr)
    print("run-notebooks: run `bash scripts/setup.sh` at the repository root", file=sys.stderr)
    sys.exit(2)


try:
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel
except ImportError as e:
    fail_setup(f"{sys.executable} cannot import nbclient/nbformat/jupyter_client ({e})")


def cell_error_text(cell, reply_content):
    """The failing cell's error: its stderr and error outputs, then the reply's ename/evalue."""
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            trace = "\n".join(out.get("traceback", []))
            parts.append(trace or f"{out.get('ename')}: {out.get('evalue')}")
    if reply_content:
        ename, evalue = reply_content.get("ename", ""), reply_content.get("evalue", "")
        if (ename or evalue) and not parts:
            parts.append(f"{ename}: {evalue}")
    return ANSI.sub("", "\n".join(p.rstrip("\n") for p in parts)).strip() or "(no error text)"


def run_one(path, kernel, timeout, out_path):
    nb = nbformat.read(path, as_version=4)
    failed = {}

    def on_cell_error(cell, cell_index, execute_reply):
        failed["index"] = cell_index
        failed["reply"] = execute_reply.get("content", {})

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name=kernel,
        allow_errors=False,
        resources={"metadata": {"path": str(path.parent)}},
        on_cell_error=on_cell_error,
    )
    t0 = time.monotonic()
    error = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError, RuntimeError) as e:
        error = e
    seconds = time.monotonic() - t0
    result = {"notebook": str(path), "name": path.name, "ok": error is None, "seconds": seconds}
    if error is not None:
        index = failed.get("index")
        if index is None:  # a timeout or a dead kernel: the first cell without a reply
            pending = (
                i
                for i, c in enumerate(nb.cells)
                if c.cell_type == "code" and c.get("execution_count") is None
            )
            index = next(pending, None)
        cell = nb.cells[index] if index is not None else {}
        source = cell.get("source", "") if cell else ""
        text = cell_error_text(cell, failed.get("reply")) if cell else ""
        if not failed:
            text = f"{type(error).__name__}: {ANSI.sub('', str(error)).strip()}\n{text}".strip()
        result.update(
            cell_index=index,
            cell_id=cell.get("id") if cell else None,
            cell_source=source,
            error=text,
        )
    if out_path is not None and error is None:
        out_path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, str(out_path))
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--in-place", action="store_true", help="save outputs into the notebooks")
    where.add_argument("--output-dir", type=Path, help="write executed copies here")
    ap.add_argument("--kernel", default="tslab")
    ap.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    ap.add_argument("--json", type=Path, help="write a JSON report here")
    ap.add_argument("notebooks", nargs="*", type=Path)
    args = ap.parse_args()

    paths = [p.resolve() for p in args.notebooks] or sorted(DEFAULT_DIR.glob("*.ipynb"))
    if not paths:
        fail_setup(f"no notebooks found in {DEFAULT_DIR}")
    try:
        spec = KernelSpecManager().get_kernel_spec(args.kernel)
    except NoSuchKernel:
        fail_setup(f"the Jupyter kernel '{args.kernel}' is not registered")
    if not os.access(spec.argv[0], os.X_OK):
        fail_setup(f"the '{args.kernel}' kernel points at {spec.argv[0]}, which is not executable")

    results = []
    for path in paths:
        if args.in_place:
            out_path = path
        elif args.output_dir is not None:
            out_path = args.output_dir / path.name
        else:
            out_path = None
        r = run_one(path, args.kernel, args.timeout, out_path)
        results.append(r)
        if r["ok"]:
            print(f"ok    {r['name']} ({r['seconds']:.1f}s)", flush=True)
        else:
            cell = "?" if r["cell_index"] is None else r["cell_index"] + 1
            print(
                f"FAIL  {r['name']}: cell {cell} (id {r['cell_id']})\n"
                f"{r['cell_source']}\n---\n{r['error']}",
                flush=True,
            )
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1))
    bad = sum(not r["ok"] for r in results)
    print(f"{len(results) - bad} notebooks ran clean, {bad} failed", flush=True)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
