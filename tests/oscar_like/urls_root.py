from tests.oscar_like.urls import project_urlpatterns as urlpatterns

__all__ = ["urlpatterns"]
