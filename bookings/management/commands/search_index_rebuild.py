"""``manage.py search_index_rebuild [--check]``: rebuild the vendor-search index whole.

Needed after writes that bypass the services (a bulk load such as ``seed_bench``, a restore) or a
change of the pincode table (core/data/pincodes.csv). ``--check`` only compares, lists the
vendors whose index rows differ from their data, and exits 1 if there are any.
"""

from django.core.management.base import BaseCommand, CommandError

from bookings.search_index import search_index_differences, search_index_rebuild


class Command(BaseCommand):
    help = "Rebuild the vendor-search index (or, with --check, report where it is out of step)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="compare only; exit 1 on any difference")

    def handle(self, *args, check=False, **options):
        if check:
            differing = search_index_differences()
            for vendor_id in differing[:50]:
                self.stdout.write(f"out of step: vendor {vendor_id}")
            if differing:
                raise CommandError(f"{len(differing)} vendors' search rows differ from their data")
            self.stdout.write("search index in step")
            return
        written = search_index_rebuild()
        self.stdout.write(f"search index rebuilt: {written} rows")
