"""``python -m fastapi_chassis.cli``: the ``chassis`` command."""

from fastapi_chassis.cli.root import main

main()
