"""``manage.py verify_signatures``: walk the whole signature chain (ARCHITECTURE §7).

Every signature's hash is recomputed from its fields and from its live sources (comments text,
drawn image, the booking's photos), and its previous hash checked against the signature before it
(no gap in the sequence); the chain head must name the last one. Prints OK, or names the first
broken link and exits non-zero."""

from django.core.management.base import BaseCommand, CommandError

from signatures.hashing import chain_verify


class Command(BaseCommand):
    help = "Verify the signature hash chain; exits non-zero naming the first broken link."

    def handle(self, *args, **options):
        report = chain_verify()
        if not report.valid:
            broken = report.first_broken
            where = (
                f"signature #{broken.sequence} (id {broken.pk}, booking {broken.booking.booking_number})"
                if broken is not None
                else "the chain head"
            )
            self.stderr.write(f"Broken link at {where}: {report.problem}")
            raise CommandError(f"Signature chain broken at {where}: {report.problem}")
        self.stdout.write(self.style.SUCCESS(f"Signature chain OK: {report.checked} signature(s) verified."))
