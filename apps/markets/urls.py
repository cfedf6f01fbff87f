from apps.markets.views import claims, portfolio, post

urlpatterns = claims.urlpatterns + post.urlpatterns + portfolio.urlpatterns
