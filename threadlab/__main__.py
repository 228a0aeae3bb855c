"""Command line: ``python -m threadlab doctor`` prints the environment report;
``python -m threadlab grade LAB SUBMISSIONS... --out DIR`` grades a class (see threadlab.grading)."""

import argparse
import sys

from threadlab import env


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m threadlab")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check that this machine can run the course")
    grade = sub.add_parser("grade", help="grade a class's submissions of a lab with nbgrader, in a sandbox")
    from threadlab.grading import grader

    grader.add_arguments(grade)
    args = parser.parse_args(argv)
    if args.command == "grade":
        return grader.run(args)
    if args.command == "doctor":
        items = env.report()
        print(env.format_report(items))
        return 0 if all(item.ok for item in items) else 1
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
