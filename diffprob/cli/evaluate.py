"""`diffprob evaluate` (not yet implemented)."""


def register(subparsers):
    parser = subparsers.add_parser("evaluate", help="(not yet implemented)")
    parser.set_defaults(func=run)


def run(args):
    raise NotImplementedError("diffprob evaluate")
