"""Documents in the Django admin: read-only rows (uploads go through the upload service), with
the failure reason, token counts and bulk retry / re-extract actions."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat, truncatechars
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import services
from .models import Document, ExtractedText, Status


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "workspace",
        "status",
        "extractor",
        "file_size",
        "tokens",
        "attempts",
        "short_failure",
        "created_at",
    ]
    list_filter = ["status", "extractor", "extension", "created_at"]
    list_select_related = ["workspace", "text"]
    search_fields = ["name", "sha256", "workspace__name", "remote_file_id", "failure_reason"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Document._meta.fields]
    actions = ["retry_extraction", "reextract"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Document]:
        return super().get_queryset(request).defer("text__text", "text__content")

    @admin.display(description=_("size"), ordering="size")
    def file_size(self, document: Document) -> str:
        return str(filesizeformat(document.size))

    @admin.display(description=_("tokens"), ordering="text__token_count")
    def tokens(self, document: Document) -> int | None:
        return document.token_count

    @admin.display(description=_("failure"))
    def short_failure(self, document: Document) -> str:
        return truncatechars(document.failure_reason, 80) if document.failure_reason else ""

    def _requeue(self, request: HttpRequest, queryset: QuerySet[Document], status: Status) -> None:
        queued = services.requeue_as_admin(
            queryset.values_list("pk", flat=True),
            statuses=[status],
            actor=request.user,
            request=request,
        )
        self.message_user(
            request,
            ngettext(
                "%(n)d document queued for extraction.",
                "%(n)d documents queued for extraction.",
                queued,
            )
            % {"n": queued},
            messages.SUCCESS if queued else messages.WARNING,
        )

    @admin.action(description=_("Retry extraction of the failed documents"))
    def retry_extraction(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        self._requeue(request, queryset, Status.FAILED)

    @admin.action(description=_("Re-extract the ready documents (skip the text cache)"))
    def reextract(self, request: HttpRequest, queryset: QuerySet[Document]) -> None:
        self._requeue(request, queryset, Status.READY)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(ExtractedText)
class ExtractedTextAdmin(admin.ModelAdmin):
    list_display = ["sha256", "extractor", "token_count", "documents_using", "created_at"]
    list_filter = ["extractor", "created_at"]
    search_fields = ["sha256"]
    readonly_fields = ["sha256", "extractor", "token_count", "created_at"]
    exclude = ["content"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExtractedText]:
        texts = super().get_queryset(request).defer("text", "content")  # loaded only if shown
        return texts.annotate(n_documents=Count("documents"))

    @admin.display(description=_("documents"), ordering="n_documents")
    def documents_using(self, text: ExtractedText) -> int:
        return text.n_documents  # type: ignore[attr-defined]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
