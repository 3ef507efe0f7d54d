"""The operations dashboard on the admin index (ARCHITECTURE §3): KPIs and charts for ops, the
onboarding queue for onboarding managers.

Every number is aggregated by the database, in a fixed number of queries whatever the data:
bookings per local day and status over the last 30 days (counts, booking value, the chart), ledger
lines per local day and account (revenue, tax, the revenue chart), payouts by status, reviews,
the needs-attention counts (bookings/admin_filters.py), the top vendors, and — for staff who may
see them — contact messages. Charts are inline SVG drawn from coordinates computed here: no
JavaScript, no CDN.

Definitions (local days in the platform time zone; a week starts on Monday):
- bookings today / this week: bookings *made* that day / week, by status;
- gross booking value (GBV): the totals of bookings made in the period, cancelled and expired ones
  left out;
- platform revenue: what the ledger kept as the platform's in the period — commission, less
  promo discounts and commission refunded (§4 ``platform_fee``, net of refunds); tax collected:
  the net credit to ``tax_payable``;
- top vendors: by the value of bookings they accepted in the last 30 days.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Avg, Count, Q, Sum
from django.db.models.functions import TruncDate
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from bookings.admin_filters import ATTENTION_LABELS, attention_counts
from bookings.availability import platform_zone
from bookings.models import VENDOR_CONFIRMED_STATUSES, Booking, BookingStatus
from core.models import OnboardingStatus, VendorProfile
from core.money import ZERO, money
from payments.ledger import CUSTOMER_REFUNDS, PLATFORM_REVENUE, PROMO_EXPENSE, TAX_PAYABLE
from payments.models import LedgerLine, Payout, PayoutStatus
from signatures.models import Review

DAYS = 30
TOP_VENDORS = 5
NOT_SOLD = (BookingStatus.CANCELLED, BookingStatus.EXPIRED)
REVENUE_ACCOUNTS = (PLATFORM_REVENUE, CUSTOMER_REFUNDS, PROMO_EXPENSE)


# --- charts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    width: float
    height: float
    title: str
    negative: bool = False


@dataclass(frozen=True)
class Label:
    x: float
    y: float
    text: str
    anchor: str = "middle"


@dataclass(frozen=True)
class Chart:
    """What templates/admin/dashboard/chart.html draws: bars, text and one base line."""

    title: str
    width: int
    height: int
    bars: list
    labels: list
    baseline: tuple  # x1, y1, x2, y2
    empty: bool


def _r(value: float) -> float:
    return round(value, 1)


def column_chart(title: str, points, *, text=str, width=720, height=190) -> Chart:
    """Vertical bars, one per (day, value); negative values hang below the base line."""
    left, right, top, bottom = 64, 8, 12, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [value for _day, value in points]
    high = max([0, *values])
    low = min([0, *values])
    span = (high - low) or 1
    # with nothing but zeros the base line sits at the bottom, as it would with any positive day
    zero_y = top + plot_h * float(high) / float(span) if high or low else top + plot_h
    slot = plot_w / max(len(points), 1)
    bars, labels = [], []
    last = len(points) - 1
    for index, (day, value) in enumerate(points):
        size = plot_h * abs(float(value)) / float(span)
        x = left + index * slot + slot * 0.15
        y = zero_y - size if value >= 0 else zero_y
        bars.append(Rect(_r(x), _r(y), _r(slot * 0.7), _r(size), f"{day:%d %b}: {text(value)}", value < 0))
        # a date under every seventh bar, and under the last one unless that would crowd the previous
        if (index % 7 == 0 and last - index >= 3) or index == last:
            labels.append(Label(_r(left + index * slot + slot / 2), height - 6, f"{day:%d %b}"))
    # the value scale: the highest, zero and (when there are negative days) the lowest
    if high > 0:
        labels.append(Label(left - 6, top + 4, text(high), "end"))
    if low < 0:
        labels.append(Label(left - 6, top + plot_h, text(low), "end"))
    labels.append(Label(left - 6, _r(zero_y + 4), text(0), "end"))
    return Chart(title, width, height, bars, labels, (left, _r(zero_y), width - right, _r(zero_y)), not any(values))


def bar_list_chart(title: str, items, *, text=str, width=720, row=26) -> Chart:
    """Horizontal bars, one per (name, value), named on the left."""
    left, right = 200, 110
    plot_w = width - left - right
    height = max(row * len(items), row) + 8
    high = max([value for _name, value in items] or [0]) or 1
    bars, labels = [], []
    for index, (name, value) in enumerate(items):
        y = 4 + index * row
        size = plot_w * float(value) / float(high)
        bars.append(Rect(left, y, _r(size), row - 8, f"{name}: {text(value)}"))
        labels.append(Label(left - 8, y + row / 2, str(name)[:28], "end"))
        labels.append(Label(_r(left + size + 6), y + row / 2, text(value), "start"))
    return Chart(title, width, height, bars, labels, (left, 0, left, height), not items)


# --- numbers -----------------------------------------------------------------------------------


@dataclass
class Dashboard:
    today: date
    week_start: date
    month_start: date
    currency: str
    status_rows: list = field(default_factory=list)
    bookings_today: int = 0
    bookings_week: int = 0
    gbv_today: Decimal = ZERO
    gbv_week: Decimal = ZERO
    gbv_month: Decimal = ZERO
    revenue_today: Decimal = ZERO
    revenue_week: Decimal = ZERO
    revenue_month: Decimal = ZERO
    tax_week: Decimal = ZERO
    tax_month: Decimal = ZERO
    payouts_pending_count: int = 0
    payouts_pending_amount: Decimal = ZERO
    payouts_failed_count: int = 0
    payouts_failed_amount: Decimal = ZERO
    rating_average: Decimal | None = None
    rating_count: int = 0
    attention: list = field(default_factory=list)
    attention_total: int = 0
    top_vendors: list = field(default_factory=list)
    contact: dict | None = None
    bookings_chart: Chart | None = None
    revenue_chart: Chart | None = None
    vendors_chart: Chart | None = None


def _start(day: date, zone) -> datetime:
    return datetime.combine(day, time(), tzinfo=zone)


def _money_text(value) -> str:
    return f"{money(value):,.2f}"


def dashboard_build(*, now=None, contact=False) -> Dashboard:
    """The dashboard's numbers at ``now`` (see the module docstring for the definitions)."""
    zone = platform_zone()
    now = now or timezone.now()
    today = now.astimezone(zone).date()
    week_start = today - timedelta(days=today.weekday())
    month_start = today - timedelta(days=DAYS - 1)
    board = Dashboard(today=today, week_start=week_start, month_start=month_start, currency=settings.CURRENCY)
    since = _start(month_start, zone)

    # 1. bookings made per day and status
    per_day = dict.fromkeys((month_start + timedelta(days=n) for n in range(DAYS)), 0)
    by_status = {status: {"today": 0, "week": 0} for status in BookingStatus.values}
    rows = (
        Booking.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=zone))
        .values("day", "status")
        .annotate(count=Count("pk"), value=Sum("total"))
        .order_by()
    )
    for row in rows:
        day, status, count, value = row["day"], row["status"], row["count"], money(row["value"] or 0)
        if day in per_day:
            per_day[day] += count
        sold = status not in NOT_SOLD
        if sold:
            board.gbv_month += value
        if day >= week_start:
            by_status[status]["week"] += count
            board.bookings_week += count
            if sold:
                board.gbv_week += value
        if day == today:
            by_status[status]["today"] += count
            board.bookings_today += count
            if sold:
                board.gbv_today += value
    board.status_rows = [
        {"status": status, "label": label, **by_status[status]} for status, label in BookingStatus.choices
    ]

    # 2. ledger lines per day and account: platform revenue and tax
    revenue_per_day = dict.fromkeys(per_day, ZERO)
    lines = (
        LedgerLine.objects.filter(
            transaction__created_at__gte=since,
            currency=settings.CURRENCY,
            account__in=[*REVENUE_ACCOUNTS, TAX_PAYABLE],
        )
        .annotate(day=TruncDate("transaction__created_at", tzinfo=zone))
        .values("day", "account")
        .annotate(total=Sum("amount"))
        .order_by()
    )
    for row in lines:
        day, amount = row["day"], -money(row["total"] or 0)  # credits are negative
        if row["account"] == TAX_PAYABLE:
            board.tax_month += amount
            if day >= week_start:
                board.tax_week += amount
            continue
        if day in revenue_per_day:
            revenue_per_day[day] += amount
        board.revenue_month += amount
        if day >= week_start:
            board.revenue_week += amount
        if day == today:
            board.revenue_today += amount

    # 3. payouts waiting or failed (now, whenever made)
    payouts = Payout.objects.aggregate(
        pending_count=Count("pk", filter=Q(status=PayoutStatus.PENDING)),
        pending_amount=Sum("amount", filter=Q(status=PayoutStatus.PENDING)),
        failed_count=Count("pk", filter=Q(status=PayoutStatus.FAILED)),
        failed_amount=Sum("amount", filter=Q(status=PayoutStatus.FAILED)),
    )
    board.payouts_pending_count = payouts["pending_count"]
    board.payouts_pending_amount = money(payouts["pending_amount"] or 0)
    board.payouts_failed_count = payouts["failed_count"]
    board.payouts_failed_amount = money(payouts["failed_amount"] or 0)

    # 4. the average rating over every review
    reviews = Review.objects.aggregate(average=Avg("rating"), count=Count("pk"))
    board.rating_count = reviews["count"]
    if reviews["average"] is not None:
        board.rating_average = Decimal(str(reviews["average"])).quantize(Decimal("0.01"))

    # 5. what waits for ops
    counts = attention_counts(now=now)
    changelist = reverse("admin:bookings_booking_changelist")
    board.attention = [
        {"key": key, "label": label, "count": counts[key], "url": f"{changelist}?attention={key}"}
        for key, label in ATTENTION_LABELS.items()
    ]
    board.attention_total = counts["any"]

    # 6. top vendors by accepted booking value
    board.top_vendors = list(
        Booking.objects.filter(created_at__gte=since, vendor__isnull=False, status__in=VENDOR_CONFIRMED_STATUSES)
        .values("vendor_id", "vendor__display_name", "vendor__rating_avg")
        .annotate(jobs=Count("pk"), value=Sum("total"))
        .order_by("-value", "vendor__display_name")[:TOP_VENDORS]
    )
    for vendor in board.top_vendors:
        vendor["value"] = money(vendor["value"] or 0)

    # 7. contact messages still to answer
    if contact:
        board.contact = _contact_counts()

    board.bookings_chart = column_chart(_("Bookings per day"), list(per_day.items()))
    board.revenue_chart = column_chart(
        _("Platform revenue per day (%(currency)s)") % {"currency": board.currency},
        list(revenue_per_day.items()),
        text=_money_text,
    )
    board.vendors_chart = bar_list_chart(
        _("Top vendors, last 30 days (%(currency)s)") % {"currency": board.currency},
        [(vendor["vendor__display_name"], vendor["value"]) for vendor in board.top_vendors],
        text=_money_text,
    )
    return board


def _contact_counts() -> dict:
    from core.models import ContactMessage, ContactStatus

    counts = ContactMessage.objects.aggregate(
        new=Count("pk", filter=Q(status=ContactStatus.NEW)),
        open=Count("pk", filter=~Q(status=ContactStatus.RESOLVED)),
    )
    try:
        counts["url"] = reverse("admin:core_contactmessage_changelist")
    except NoReverseMatch:
        counts["url"] = ""
    return counts


def onboarding_counts() -> dict:
    """The onboarding queue: applications waiting, and how many of them can be approved (phone
    verified) — one query."""
    return VendorProfile.objects.aggregate(
        pending=Count("pk", filter=Q(onboarding_status=OnboardingStatus.PENDING)),
        pending_phone_verified=Count(
            "pk", filter=Q(onboarding_status=OnboardingStatus.PENDING, user__phone_verified=True)
        ),
        suspended=Count("pk", filter=Q(onboarding_status=OnboardingStatus.SUSPENDED)),
    )


def index_panels(request) -> dict:
    """The index page's extra context for this staff member: the ops dashboard for who may see
    bookings, the onboarding queue for who reviews vendors."""
    from django.contrib import admin

    from core.models import ContactMessage

    user = request.user
    panels = {}
    if user.has_perm("bookings.view_booking"):
        # Contact messages are counted once their admin exists (core/admin_contact.py).
        contact = admin.site.is_registered(ContactMessage) and user.has_perm("core.view_contactmessage")
        panels["dashboard"] = dashboard_build(contact=contact)
    if user.has_perm("core.change_vendorprofile"):
        panels["onboarding"] = {
            **onboarding_counts(),
            "url": reverse("admin:core_vendorprofile_changelist")
            + f"?onboarding_status__exact={OnboardingStatus.PENDING}",
        }
    return panels
