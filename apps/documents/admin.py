from django.contrib import admin

from .models import Document, ExtractedText


@admin.register(Document)
class DocumentAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "status", "extractor", "size", "attempts", "created_at"]
    list_filter = ["status", "extractor"]
    search_fields = ["name", "sha256", "workspace__name", "remote_file_id"]
    readonly_fields = [f.name for f in Document._meta.fields]


@admin.register(ExtractedText)
class ExtractedTextAdmin(admin.ModelAdmin):
    list_display = ["sha256", "extractor", "token_count", "created_at"]
    list_filter = ["extractor"]
    search_fields = ["sha256"]
    readonly_fields = ["sha256", "extractor", "token_count", "created_at"]
