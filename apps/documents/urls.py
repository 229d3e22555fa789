from django.urls import path

from . import views

app_name = "documents"

urlpatterns = [
    path("w/<slug:slug>/documents/", views.document_list, name="list"),
    path("w/<slug:slug>/documents/upload/", views.upload, name="upload"),
    path("w/<slug:slug>/documents/status/", views.status, name="status"),
    path("w/<slug:slug>/documents/<int:document_id>/", views.detail, name="detail"),
    path("w/<slug:slug>/documents/<int:document_id>/download/", views.download, name="download"),
    path("w/<slug:slug>/documents/<int:document_id>/reextract/", views.reextract, name="reextract"),
    path("w/<slug:slug>/documents/<int:document_id>/delete/", views.delete, name="delete"),
]
