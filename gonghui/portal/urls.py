from django.urls import path

from gonghui.portal.views import account, auth, card, find, join, me, membership, messages, unions

app_name = "portal"
urlpatterns = [
    path("", unions.landing, name="landing"),
    path("login/", auth.login_view, name="login"),
    path("login/code/", auth.send_code_view, name="send_code"),
    path("logout/", auth.logout_view, name="logout"),
    path("register/", account.register_view, name="register"),
    path("register/code/", account.register_code_view, name="register_code"),
    path("join/<int:org_id>/", join.apply_view, name="apply"),
    path("me/applications/", join.applications_view, name="applications"),
    path("me/applications/<int:application_id>/withdraw/", join.withdraw_view, name="application_withdraw"),
    path("me/claim/", account.claim_view, name="claim"),
    path("me/", me.me, name="me"),
    path("me/transfer/", membership.transfer_request, name="transfer_request"),
    path("me/transfer/targets/", membership.transfer_targets, name="transfer_targets"),
    path("me/transfer/<int:transfer_id>/cancel/", membership.transfer_cancel, name="transfer_cancel"),
    path("me/leave/", membership.leave, name="leave"),
    path("me/membership/", membership.membership_history, name="membership_history"),
    path("me/messages/", messages.message_list, name="messages"),
    path("me/messages/read-all/", messages.message_read_all, name="message_read_all"),
    path("me/messages/<int:message_id>/", messages.message_detail, name="message_detail"),
    path("me/card/", card.card, name="card"),
    path("me/card/qr/", card.card_qr, name="card_qr"),
    path("me/card/print/", card.card_print, name="card_print"),
    path("me/card/image/", card.card_image, name="card_image"),
    path("card/verify/", card.card_verify, name="card_verify"),
    path("find/", find.find_union, name="find_union"),
    path("u/<int:org_id>/", unions.union_home, name="union_home"),
    path("u/<int:org_id>/notices/", unions.notice_list, name="notice_list"),
    path("u/<int:org_id>/notices/<int:notice_id>/", unions.notice_detail, name="notice_detail"),
    path("u/<int:org_id>/unions/", unions.union_children, name="union_children"),
]
