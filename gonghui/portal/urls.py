from django.urls import path

from gonghui.portal.views import auth, find, me, unions

app_name = "portal"
urlpatterns = [
    path("", unions.landing, name="landing"),
    path("login/", auth.login_view, name="login"),
    path("login/code/", auth.send_code_view, name="send_code"),
    path("logout/", auth.logout_view, name="logout"),
    path("me/", me.me, name="me"),
    path("find/", find.find_union, name="find_union"),
    path("u/<int:org_id>/", unions.union_home, name="union_home"),
    path("u/<int:org_id>/notices/", unions.notice_list, name="notice_list"),
    path("u/<int:org_id>/notices/<int:notice_id>/", unions.notice_detail, name="notice_detail"),
    path("u/<int:org_id>/unions/", unions.union_children, name="union_children"),
]
