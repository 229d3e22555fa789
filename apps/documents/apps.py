from django.apps import AppConfig
from django.db.models.signals import post_delete
from django.utils.translation import gettext_lazy as _


class DocumentsConfig(AppConfig):
    name = "apps.documents"
    label = "documents"
    verbose_name = _("Documents")

    def ready(self) -> None:
        from apps.moonshot.reconcile import register_owner_kind
        from apps.workspaces.limits import provide_usage

        from . import remote_copies
        from .limits import stored_totals
        from .models import Document

        provide_usage(stored_totals=stored_totals)
        register_owner_kind("document", remote_copies.document_owner_states)
        post_delete.connect(
            remote_copies.on_document_deleted, sender=Document, dispatch_uid="release-copies"
        )
