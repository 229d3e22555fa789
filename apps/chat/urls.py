from django.urls import path

from . import views

app_name = "chat"

urlpatterns = [
    path("w/<slug:slug>/chat/", views.index, name="index"),
    path("w/<slug:slug>/chat/new/", views.create, name="create"),
    path("w/<slug:slug>/chat/<int:conversation_id>/", views.detail, name="detail"),
    path("w/<slug:slug>/chat/<int:conversation_id>/rename/", views.rename, name="rename"),
    path("w/<slug:slug>/chat/<int:conversation_id>/delete/", views.delete, name="delete"),
    path("w/<slug:slug>/chat/<int:conversation_id>/scope/", views.scope, name="scope"),
    path("w/<slug:slug>/chat/<int:conversation_id>/ask/", views.ask, name="ask"),
    path(
        "w/<slug:slug>/chat/<int:conversation_id>/regenerate/", views.regenerate, name="regenerate"
    ),
]
