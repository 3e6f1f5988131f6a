from django.urls import path

from gonghui.console.views import audit, auth, branding, dashboard, members, orgs, sms

app_name = "console"
urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("login/", auth.login_view, name="login"),
    path("login/code/", auth.send_code_view, name="send_code"),
    path("logout/", auth.logout_view, name="logout"),
    path("otp/", auth.otp_verify, name="otp_verify"),
    path("otp/setup/", auth.otp_enroll, name="otp_enroll"),
    path("otp/recovery-codes/", auth.recovery_codes, name="recovery_codes"),
    path("otp/recovery-codes/new/", auth.recovery_codes_regenerate, name="recovery_codes_regenerate"),
    path("orgs/", orgs.org_tree, name="org_tree"),
    path("orgs/<int:org_id>/", orgs.org_detail, name="org_detail"),
    path("orgs/<int:org_id>/children/", orgs.org_children, name="org_children"),
    path("orgs/<int:org_id>/new/", orgs.org_create, name="org_create"),
    path("orgs/<int:org_id>/edit/", orgs.org_edit, name="org_edit"),
    path("orgs/<int:org_id>/move/", orgs.org_move, name="org_move"),
    path("orgs/<int:org_id>/close/", orgs.org_close, name="org_close"),
    path("orgs/<int:org_id>/branding/", branding.org_branding, name="org_branding"),
    path("orgs/<int:org_id>/roles/", orgs.org_roles, name="org_roles"),
    path("roles/<int:role_id>/revoke/", orgs.role_revoke, name="role_revoke"),
    path("roles/<int:role_id>/reset-second-factor/", orgs.role_reset_second_factor, name="role_reset_second_factor"),
    path("members/", members.member_list, name="member_list"),
    path("members/count/", members.member_count, name="member_count"),
    path("members/<int:member_id>/", members.member_detail, name="member_detail"),
    path("members/<int:member_id>/edit/", members.member_edit, name="member_edit"),
    path("members/<int:member_id>/reveal/", members.member_reveal, name="member_reveal"),
    path("audit/", audit.audit_log, name="audit_log"),
    path("sms/", sms.sms_outbox, name="sms_outbox"),
]
