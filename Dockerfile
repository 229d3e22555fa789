# One image for web, worker and beat (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY docqa ./docqa
COPY apps ./apps
RUN pip install --no-cache-dir .
COPY . .
RUN DJANGO_SECRET_KEY=build-only DATABASE_URL=postgres://x@localhost/x REDIS_URL=redis://localhost \
    python manage.py collectstatic --noinput
RUN useradd --create-home docqa && mkdir -p /data/media && chown docqa /data/media
USER docqa
EXPOSE 8000
