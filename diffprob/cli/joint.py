"""`diffprob joint` (not yet implemented)."""


def register(subparsers):
    parser = subparsers.add_parser("joint", help="(not yet implemented)")
    parser.set_defaults(func=run)


def run(args):
    raise NotImplementedError("diffprob joint")
