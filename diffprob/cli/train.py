"""`diffprob train` (not yet implemented)."""


def register(subparsers):
    parser = subparsers.add_parser("train", help="(not yet implemented)")
    parser.set_defaults(func=run)


def run(args):
    raise NotImplementedError("diffprob train")
