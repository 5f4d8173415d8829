"""`diffprob classifier` (not yet implemented)."""


def register(subparsers):
    parser = subparsers.add_parser("classifier", help="(not yet implemented)")
    parser.set_defaults(func=run)


def run(args):
    raise NotImplementedError("diffprob classifier")
