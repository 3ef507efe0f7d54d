"""``manage.py ledger_check``: the ledger's integrity (ARCHITECTURE §4).

Every transaction's lines sum to zero (at least two lines, one currency), and every payment
attempt's captured and refunded amounts match the lines posted for it. Prints OK, or each problem
with the offending transaction or attempt id and exits non-zero."""

from django.core.management.base import BaseCommand, CommandError

from payments.ledger import attempt_mismatches, unbalanced_transactions
from payments.models import LedgerTransaction


class Command(BaseCommand):
    help = "Verify that every ledger transaction balances and every captured payment matches its ledger lines."

    def handle(self, *args, **options):
        problems = [*unbalanced_transactions(), *attempt_mismatches()]
        if problems:
            for problem in problems:
                self.stderr.write(problem)
            raise CommandError(f"Ledger check failed with {len(problems)} problem(s): " + "; ".join(problems))
        count = LedgerTransaction.objects.count()
        self.stdout.write(self.style.SUCCESS(f"Ledger OK: {count} transaction(s) balanced, payments match."))
