"""``python -m accessguard.i18n``: bring the catalogues in step with the marked messages, then list what still lacks a translation."""

import sys

from accessguard.i18n.catalogue import problems, update

update()
left = problems()
for problem in left:
    print(problem, file=sys.stderr)
sys.exit(1 if left else 0)
