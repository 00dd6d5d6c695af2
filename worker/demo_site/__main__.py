"""Serve the Pilothouse demo site in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import threading

from worker.demo_site.server import serve


def main(argv: list[str] | None = None) -> None:
    """Parse ``[--host H] [--port P]`` and serve the demo site until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m worker.demo_site", description=__doc__
    )
    parser.add_argument("--host", default="127.0.0.1", help="default: %(default)s")
    parser.add_argument(
        "--port", type=int, default=8000, help="0: any free port (default: %(default)s)"
    )
    args = parser.parse_args(argv)

    site = serve(args.host, args.port)
    print(f"Pilothouse demo site on {site.url}/ (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        site.stop()


if __name__ == "__main__":
    main()
