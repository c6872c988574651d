#!/usr/bin/env python3
"""Dynamo's command-line entry point (Django management commands)."""
import os
import sys


def main():
    os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dynamo_site.settings')
    # `--config FILE` must be known before settings load (it may name the database)
    for i, arg in enumerate(sys.argv):
        if arg == '--config' and i + 1 < len(sys.argv):
            os.environ['DYNAMO_CONFIG'] = os.path.abspath(sys.argv[i + 1])
        elif arg.startswith('--config='):
            os.environ['DYNAMO_CONFIG'] = os.path.abspath(arg.split('=', 1)[1])
    from dynamo_site.config import ConfigError
    from dynamo_site.signals import unblock_inherited
    unblock_inherited()
    try:
        from dynamo_site import bootstrap
        bootstrap.prepare(sys.argv[1] if len(sys.argv) > 1 else '')
        from django.core.management import execute_from_command_line
        execute_from_command_line(sys.argv)
    except ConfigError as exc:
        sys.stderr.write(f'dynamo: {exc}\n')
        sys.exit(2)


if __name__ == '__main__':
    main()
