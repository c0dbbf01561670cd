"""``python -m vaekit`` (and ``torchrun -m vaekit``) runs the CLI."""

from vaekit.cli.main import main

raise SystemExit(main())
