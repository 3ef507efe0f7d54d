from django.core.management.base import BaseCommand

from core.demo_data import seed_demo


class Command(BaseCommand):
    help = "Load the demo data (idempotent): one user per role, catalog, vendors, bookings."

    def handle(self, *args, **options):
        seed_demo(stdout=self.stdout)
