from django.urls import path

from . import views

app_name = "workspaces"

urlpatterns = [
    path("", views.home, name="home"),
    path("w/new/", views.create, name="create"),
    path("w/<slug:slug>/", views.detail, name="detail"),
    path("w/<slug:slug>/members/", views.members, name="members"),
    path("w/<slug:slug>/members/invite/", views.invite, name="invite"),
    path(
        "w/<slug:slug>/members/invitations/<int:invitation_id>/revoke/",
        views.revoke_invitation,
        name="revoke_invitation",
    ),
    path("w/<slug:slug>/members/<int:membership_id>/role/", views.change_role, name="change_role"),
    path(
        "w/<slug:slug>/members/<int:membership_id>/remove/",
        views.remove_member,
        name="remove_member",
    ),
    path("w/<slug:slug>/leave/", views.leave, name="leave"),
    path("w/<slug:slug>/settings/", views.settings_view, name="settings"),
    path("invitations/<str:token>/", views.accept_invitation, name="accept_invitation"),
]
