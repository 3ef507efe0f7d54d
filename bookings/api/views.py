from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, mixins, permissions, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from bookings.api import serializers as s
from bookings.api.documents import booking_document
from bookings.api.photos import (
    PHOTO_UPLOAD_PARSERS,
    BookingPhotoSerializer,
    PhotoFileNegotiation,
    PhotoUploadSerializer,
    photo_file_response,
)
from bookings.availability import free_slots, platform_zone, visit_duration
from bookings.models import SLOT_HOLDING_STATUSES, Booking, BookingStatus, VendorService
from bookings.selectors import (
    BOOKING_LIST_ORDER,
    BookingListRows,
    booking_detail_queryset,
    booking_list_queryset,
    bookings_visible_to,
    services_active,
    vendor_detail_queryset,
    vendor_search,
    vendors_bookable,
)
from bookings.services import transitions
from bookings.services.catalog import vendor_service_set
from bookings.services.creation import booking_create
from bookings.services.photos import photo_get, photo_list, photo_upload
from bookings.services.promos import promo_discount, promo_get
from core.api.schema import error_response
from core.api.views import IsVendor
from core.errors import InvalidInput, NotFound
from core.money import money
from payments.checkout import checkout_start
from signatures.api.serializers import SignatureRequestCreatedSerializer
from signatures.services import booking_complain
from signatures.services import signature_request as signature_request_create


class ServiceViewSet(viewsets.ReadOnlyModelViewSet):
    permission_classes = [permissions.AllowAny]
    serializer_class = s.ServiceSerializer
    pagination_class = None

    def get_queryset(self):
        return services_active()


class VendorViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Public vendor discovery: approved and available vendors only."""

    permission_classes = [permissions.AllowAny]
    filter_backends = []

    def get_serializer_class(self):
        return s.VendorDetailSerializer if self.action == "retrieve" else s.VendorListSerializer

    def get_queryset(self):
        if self.action == "list":
            params = s.VendorSearchParams(data=self.request.query_params)
            params.is_valid(raise_exception=True)
            return vendor_search(**params.validated_data)
        return vendor_detail_queryset().filter(pk__in=vendors_bookable().values("pk"))

    @extend_schema(parameters=[s.VendorSearchParams])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(parameters=[s.AvailabilityParams], responses=s.AvailabilitySerializer)
    @action(detail=True, methods=["get"])
    def availability(self, request, pk=None):
        """Free slots on a day: for a new visit (``service`` with ``quantity``) or for moving a
        booking of the caller's that this vendor holds (``booking``)."""
        vendor = self.get_object()
        params = s.AvailabilityParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        if "booking" in data:
            booking = _booking_to_move(request.user, data["booking"], vendor=vendor)
            duration = booking.ends_at - booking.scheduled_at
            exclude_booking_id = booking.pk
        else:
            duration = visit_duration(vendor, data["lines"])
            exclude_booking_id = None
        day = data["date"]
        slots = free_slots(vendor, day, duration, exclude_booking_id=exclude_booking_id)
        return Response(
            s.AvailabilitySerializer(
                {
                    "date": day,
                    "timezone": str(platform_zone()),
                    "duration_minutes": int(duration.total_seconds() // 60),
                    "slots": [{"start": slot.start, "end": slot.end} for slot in slots],
                }
            ).data
        )


def _booking_to_move(user, booking_id, *, vendor) -> Booking:
    """The booking named by ``availability``'s ``booking``: one the caller may move or help move
    (its customer, or ops) — anyone else, anonymous callers and the vendors who see it included,
    hears 404, as for a booking that does not exist, so the answer tells nothing of other people's
    bookings. It must hold ``vendor``'s time (400 otherwise): only then is its own time among the
    vendor's busy time, and only then are its slots that vendor's."""
    booking = None
    if user.is_authenticated:
        booking = bookings_visible_to(user).filter(pk=booking_id).first()
    if booking is None or not (user.is_ops or booking.customer_id == user.pk):
        raise NotFound(_("No booking of yours with this id."))
    if booking.vendor_id != vendor.pk or booking.status not in SLOT_HOLDING_STATUSES:
        raise InvalidInput(fields={"booking": [_("This booking is not held by this vendor.")]})
    return booking


class VendorServicesView(generics.ListCreateAPIView):
    """The signed-in vendor's services and prices; POST sets one (create or update)."""

    permission_classes = [IsVendor]
    pagination_class = None
    serializer_class = s.VendorServiceSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return VendorService.objects.none()
        return self.request.user.vendor_profile.services.select_related("service").order_by("service__name")

    @extend_schema(request=s.VendorServiceWriteSerializer, responses={201: s.VendorServiceSerializer})
    def post(self, request):
        serializer = s.VendorServiceWriteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        offer = vendor_service_set(vendor=request.user.vendor_profile, actor=request.user, **serializer.validated_data)
        return Response(s.VendorServiceSerializer(offer).data, status=status.HTTP_201_CREATED)


class BookingViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Bookings, filtered to what the caller may see. Every action answers with the booking."""

    filterset_fields = []

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Booking.objects.none()
        if self.action == "retrieve":
            return booking_detail_queryset(self.request.user)
        if self.action == "list":
            return self._filter_list(bookings_visible_to(self.request.user))
        return booking_list_queryset(self.request.user)

    def _filter_list(self, queryset):
        if not any(key in self.request.query_params for key in BookingListParams.FILTERS):
            return queryset.order_by(*BOOKING_LIST_ORDER)  # no filter asked for: nothing to check
        params = BookingListParams(data=self.request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        if data.get("status"):
            queryset = queryset.filter(status__in=data["status"])
        if data.get("date_from"):
            queryset = queryset.filter(scheduled_at__date__gte=data["date_from"])
        if data.get("date_to"):
            queryset = queryset.filter(scheduled_at__date__lte=data["date_to"])
        return queryset.order_by(*BOOKING_LIST_ORDER)

    def get_serializer_class(self):
        return s.BookingDetailSerializer if self.action == "retrieve" else s.BookingSerializer

    def get_throttles(self):
        if self.action == "create":
            self.throttle_scope = "booking_create"
        return super().get_throttles()

    def _respond(self, booking, code=status.HTTP_200_OK):
        booking = booking_detail_queryset(self.request.user).get(pk=booking.pk)
        return Response(s.BookingDetailSerializer(booking, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        parameters=[
            OpenApiParameter("status", str, many=True),
            OpenApiParameter("date_from", str),
            OpenApiParameter("date_to", str),
        ]
    )
    def list(self, request, *args, **kwargs):
        # The rows come as plain data in one query on PostgreSQL (BookingListRows) and are
        # written by the same function as every other booking answer.
        rows = BookingListRows(self.get_queryset(), viewer=request.user)
        page = self.paginator.paginate_counted(rows, request)
        zone = timezone.get_current_timezone()  # once for the page (booking_document)
        return self.get_paginated_response([booking_document(row, viewer=request.user, zone=zone) for row in page])

    @extend_schema(request=s.BookingCreateSerializer, responses={201: s.BookingDetailSerializer})
    def create(self, request):
        serializer = s.BookingCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        booking = booking_create(customer=request.user, **data)
        checkout_start(booking=booking)
        return self._respond(booking, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.BookingDetailSerializer)
    @action(detail=True, methods=["post"])
    def accept_booking(self, request, pk=None):
        return self._respond(transitions.booking_accept(booking=self.get_object(), user=request.user))

    @extend_schema(request=s.ReasonSerializer, responses=s.BookingDetailSerializer)
    @action(detail=True, methods=["post"])
    def reject_booking(self, request, pk=None):
        booking = self.get_object()
        serializer = s.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._respond(
            transitions.booking_reject(booking=booking, user=request.user, reason=serializer.validated_data["reason"])
        )

    @extend_schema(request=None, responses=s.BookingDetailSerializer)
    @action(detail=True, methods=["post"])
    def start_booking(self, request, pk=None):
        return self._respond(transitions.booking_start(booking=self.get_object(), user=request.user))

    @extend_schema(request=None, responses=s.BookingDetailSerializer)
    @action(detail=True, methods=["post"])
    def complete_booking(self, request, pk=None):
        return self._respond(transitions.booking_complete(booking=self.get_object(), user=request.user))

    @extend_schema(request=s.CancelSerializer, responses=s.BookingDetailSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        booking = self.get_object()
        serializer = s.CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._respond(
            transitions.booking_cancel(
                booking=booking,
                user=request.user,
                reason=serializer.validated_data["reason"],
                refund_amount=serializer.validated_data.get("refund_amount"),
            )
        )

    @extend_schema(request=s.CaptureSerializer, responses=s.BookingDetailSerializer)
    @action(detail=True, methods=["post"])
    def capture_payment(self, request, pk=None):
        """Ops: capture the payment of a finished booking by hand, with a reason (until the
        customer's signature does it, and for settled disputes with ``amount``)."""
        booking = self.get_object()
        serializer = s.CaptureSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._respond(
            transitions.booking_capture_by_ops(booking=booking, user=request.user, **serializer.validated_data)
        )

    @extend_schema(request=s.RescheduleSerializer, responses=s.BookingDetailSerializer)
    @action(detail=True, methods=["post"])
    def reschedule(self, request, pk=None):
        booking = self.get_object()
        serializer = s.RescheduleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._respond(
            transitions.booking_reschedule(
                booking=booking, user=request.user, scheduled_at=serializer.validated_data["scheduled_at"]
            )
        )

    # --- Photos (ARCHITECTURE §7; bookings/services/photos.py, bookings/api/photos.py) ----------

    def _photo_booking(self, pk):
        # Who may see the photos or add one is the photo service's to decide (404 / 403).
        return generics.get_object_or_404(Booking.objects.all(), pk=pk)

    @extend_schema(methods=["GET"], request=None, responses=BookingPhotoSerializer(many=True))
    @extend_schema(
        methods=["POST"],
        request={"multipart/form-data": PhotoUploadSerializer},
        responses={
            201: BookingPhotoSerializer,
            200: BookingPhotoSerializer,
            413: error_response("The photo is larger than 10 MB."),
        },
    )
    @action(detail=True, methods=["get", "post"], parser_classes=PHOTO_UPLOAD_PARSERS, pagination_class=None)
    def photos(self, request, pk=None):
        """The job's before/after photos; POST (multipart: image, kind, caption) adds one."""
        booking = self._photo_booking(pk)
        context = self.get_serializer_context()
        if request.method == "GET":
            photos = photo_list(booking=booking, user=request.user)
            return Response(BookingPhotoSerializer(photos, many=True, context=context).data)
        serializer = PhotoUploadSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        photo, created = photo_upload(
            booking=booking,
            user=request.user,
            kind=data["kind"],
            image_file=data["image"],
            caption=data["caption"],
        )
        return Response(
            BookingPhotoSerializer(photo, context=context).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        responses={(200, "image/*"): OpenApiTypes.BINARY},
        parameters=[
            OpenApiParameter("photo_id", OpenApiTypes.UUID, OpenApiParameter.PATH),
            OpenApiParameter("variant", str, OpenApiParameter.PATH, enum=["image", "thumbnail"]),
        ],
    )
    @action(
        detail=True,
        methods=["get"],
        url_path=r"photos/(?P<photo_id>[0-9a-fA-F-]{32,36})/(?P<variant>image|thumbnail)",
        url_name="photo-file",
        content_negotiation_class=PhotoFileNegotiation,
    )
    def photo_file(self, request, pk=None, photo_id=None, variant=None):
        """The photo or its thumbnail, for the booking's customer, holding vendor and ops."""
        photo = photo_get(booking=self._photo_booking(pk), user=request.user, photo_id=photo_id)
        return photo_file_response(photo, variant)

    # --- Signatures and complaints (ARCHITECTURE §7; signatures/services.py) ---------------------

    @extend_schema(
        request=None, responses={201: SignatureRequestCreatedSerializer, 200: SignatureRequestCreatedSerializer}
    )
    @action(detail=True, methods=["post"])
    def request_signature(self, request, pk=None):
        """The vendor (or ops) asks the customer to sign: 201 with the new request, or 200 with
        the one still open (a retry)."""
        signature_request, created = signature_request_create(booking=self.get_object(), user=request.user)
        return Response(
            SignatureRequestCreatedSerializer(signature_request).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(request=s.ReasonSerializer, responses=s.BookingDetailSerializer)
    @action(detail=True, methods=["post"])
    def complain(self, request, pk=None):
        """The customer complains about a signed booking (until its earning is paid out)."""
        booking = self.get_object()
        serializer = s.ReasonSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return self._respond(
            booking_complain(booking=booking, user=request.user, reason=serializer.validated_data["reason"])
        )


class BookingListParams(s.serializers.Serializer):
    status = s.serializers.MultipleChoiceField(choices=BookingStatus.choices, required=False)
    date_from = s.serializers.DateField(required=False)
    date_to = s.serializers.DateField(required=False)

    FILTERS = ("status", "date_from", "date_to")

    def to_internal_value(self, data):
        if hasattr(data, "getlist"):
            statuses = [part for value in data.getlist("status") for part in value.split(",") if part]
            data = {key: data.get(key) for key in data}
            if statuses:
                data["status"] = statuses
        return super().to_internal_value(data)


class PromoValidateView(APIView):
    @extend_schema(request=s.PromoValidateSerializer, responses=s.PromoValidateResponseSerializer)
    def post(self, request):
        serializer = s.PromoValidateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        amount = money(serializer.validated_data["amount"])
        promo = promo_get(serializer.validated_data["code"])
        discount = promo_discount(promo=promo, amount=amount, user=request.user)
        return Response(
            s.PromoValidateResponseSerializer(
                {"code": promo.code, "valid": True, "discount": discount, "amount_after_discount": amount - discount}
            ).data
        )
