from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from .forms import SignupForm, ThrottledLoginForm
from .selectors import single_sign_on
from .services import register_user


def _passwords_off_message() -> str:
    sso = single_sign_on()
    if sso is None:
        return _("Signing in with a password is turned off on this server.")
    return _("Signing in with a password is turned off here. Sign in with %(name)s.") % {
        "name": sso.name
    }


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("workspaces:home")
    if not settings.DOCQA_PASSWORD_LOGIN:
        return render(
            request,
            "accounts/signup.html",
            {"closed": _passwords_off_message(), "next": request.GET.get("next", "")},
            status=403 if request.method == "POST" else 200,
        )
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = register_user(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password1"],
            display_name=form.cleaned_data.get("display_name", ""),
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        next_url = request.POST.get("next", "")
        if next_url and url_has_allowed_host_and_scheme(next_url, {request.get_host()}):
            return redirect(next_url)
        return redirect("workspaces:home")
    return render(
        request, "accounts/signup.html", {"form": form, "next": request.GET.get("next", "")}
    )


class LoginView(auth_views.LoginView):
    """The password form (throttled), and the single sign-on button when one is configured.

    With DOCQA_PASSWORD_LOGIN off the form is not shown and a password POST is refused with a
    message, before any password is checked."""

    form_class = ThrottledLoginForm
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.DOCQA_PASSWORD_LOGIN:
            return super().post(request, *args, **kwargs)
        context = self.get_context_data(passwords_off=_passwords_off_message())
        return self.render_to_response(context, status=403)

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return super().get_context_data(single_sign_on=single_sign_on(), **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:password_change_done")


class PasswordResetView(auth_views.PasswordResetView):
    template_name = "accounts/password_reset.html"
    email_template_name = "accounts/password_reset_email.txt"
    subject_template_name = "accounts/password_reset_subject.txt"
    success_url = reverse_lazy("accounts:password_reset_done")


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "accounts/password_reset_confirm.html"
    success_url = reverse_lazy("accounts:password_reset_complete")
