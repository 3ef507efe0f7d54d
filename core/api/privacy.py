"""The caller's own data: ``GET /api/users/me/export/`` and ``DELETE /api/users/me/`` (core/privacy.py).

Export → 200, a JSON document (``format``, ``exported_at``, one key per section of
``core.privacy.EXPORT_SECTIONS``, and ``not_included`` naming what is left out and why), sent as
an attachment ``homeserve-data-<date>.json``.

Delete {password} → 204; 400 ``{"password": [...]}`` for a wrong password; 403 for staff; 409
``{"detail", "reasons": [...]}`` while a booking, a payment or (vendors) earnings are still open.
"""

import json

from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from core.privacy import user_data_export


class AccountDeleteSerializer(serializers.Serializer):
    password = serializers.CharField(
        max_length=128, write_only=True, style={"input_type": "password"}, help_text=gettext_lazy("Your password.")
    )


class DataExportView(APIView):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request):
        data = user_data_export(user=request.user)
        response = HttpResponse(
            json.dumps(data, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="homeserve-data-{timezone.localdate():%Y-%m-%d}.json"'
        response["Cache-Control"] = "no-store"
        return response
