# The production image: one image for web (gunicorn), worker and beat; docker-compose.yml picks
# the command. Dependencies come from uv.lock exactly.
FROM python:3.11-slim-bookworm AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv \
    URLLIB3_NO_OVERRIDE=1 \
    PATH=/opt/venv/bin:$PATH \
    DJANGO_SETTINGS_MODULE=calsync.settings.prod

RUN pip install --no-cache-dir uv==0.13.8 \
 && groupadd --system calsync && useradd --system --gid calsync --home /app calsync

WORKDIR /app
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project

COPY . .
# collectstatic needs settings but no services: give it throwaway values that only exist here.
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost \
    DATABASE_URL=postgres://unused@localhost/unused REDIS_URL=redis://localhost:6379/0 \
    python manage.py collectstatic --noinput

USER calsync
EXPOSE 8000
# gunicorn trusts the scheme headers (X-Forwarded-Proto) of exactly the proxies Django believes
# X-Forwarded-For from: both read CALSYNC_TRUSTED_PROXIES (README, Configuration). A shell runs
# gunicorn so that the variable is read when the container starts, not when the image is built.
CMD ["sh", "-c", "exec gunicorn calsync.wsgi:application --bind 0.0.0.0:8000 --workers 3 --access-logfile - --forwarded-allow-ips \"${CALSYNC_TRUSTED_PROXIES:-}\""]
