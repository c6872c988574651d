from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from webmodules import sitepages
from webmodules.urls import data_patterns, web_patterns
from webmodules.views import metrics_view

urlpatterns = [
    path('', RedirectView.as_view(url='/web/inventory/')),
    path('admin/', admin.site.urls),
    path('metrics', metrics_view),
    path('data/', include(data_patterns)),
    path('web/', include(web_patterns)),
    path('api/', sitepages.api_page, name='api'),
    path('api/assets/<str:name>', sitepages.api_asset),
]

# what no module answers: pages in the site's layout (JSON for /data and JSON clients)
handler404 = 'webmodules.sitepages.page_not_found'
handler500 = 'webmodules.sitepages.server_error'
