FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 VAR_DIR=/app/var
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
# Static files are collected at build time with the base settings (no secrets needed for that).
RUN DJANGO_SETTINGS_MODULE=marketplace.settings.base python manage.py collectstatic --noinput \
    && useradd --system --home /app homeserve && chown -R homeserve /app/var
USER homeserve
EXPOSE 8000
CMD ["uvicorn", "marketplace.asgi:application", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--proxy-headers"]
