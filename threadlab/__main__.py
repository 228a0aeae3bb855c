"""Command line of the course's helper package.

- ``python -m threadlab doctor``: the environment report;
- ``python -m threadlab grade LAB SUBMISSIONS... --out DIR``: grade a class (:mod:`threadlab.grading.grader`);
- ``python -m threadlab export canvas|moodle DIR... --roster R --out F``: grades for the LMS
  (:mod:`threadlab.grading.exports`);
- ``python -m threadlab similarity LAB SUBMISSIONS... --out DIR``: similar answers, advisory
  (:mod:`threadlab.grading.similarity`);
- ``python -m threadlab gradescope LAB --out lab.zip``: a Gradescope autograder (:mod:`threadlab.grading.gradescope`).
"""

import argparse
import sys

from threadlab import env


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m threadlab")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("doctor", help="check that this machine can run the course")
    grade = sub.add_parser("grade", help="grade a class's submissions of a lab with nbgrader, in a sandbox")
    from threadlab.grading import exports, grader, gradescope, similarity

    grader.add_arguments(grade)
    exports.add_arguments(sub.add_parser("export", help="grades as a Canvas or Moodle import CSV (needs a roster)"))
    similarity.add_arguments(sub.add_parser("similarity", help="pairs of unusually similar answers (advisory)"))
    gradescope.add_arguments(sub.add_parser("gradescope", help="build a Gradescope autograder zip for a lab"))
    args = parser.parse_args(argv)
    if args.command == "grade":
        return grader.run(args)
    if args.command == "export":
        return exports.main(args)
    if args.command == "similarity":
        return similarity.main(args)
    if args.command == "gradescope":
        return gradescope.main(args)
    if args.command == "doctor":
        items = env.report()
        print(env.format_report(items))
        return 0 if all(item.ok for item in items) else 1
    return 2  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
