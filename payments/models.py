from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """One ``Idempotency-Key`` a caller used on a POST (ARCHITECTURE §6), with the response the
    first request produced. The unique constraint on (owner, key) is what makes concurrent
    duplicates safe: only one insert wins."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        DONE = "done"

    owner = models.CharField(max_length=80, help_text="user:<id>, or anon:<address> for anonymous callers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key_unique")]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self):
        return f"{self.owner} {self.key}"


class FakeGatewayObject(models.Model):
    """The fake gateway's own storage (payments/gateways/fake.py): the intents, refunds and
    transfers it "holds", as Stripe would on its side. Nothing of ours reads these rows directly."""

    id = models.CharField(primary_key=True, max_length=64)
    kind = models.CharField(max_length=30)
    data = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["kind", "created_at"])]

    def __str__(self):
        return self.id
