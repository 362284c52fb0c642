from django.contrib.auth import views as auth_views
from django.urls import path

from dashboard.views import bulk, charts, process, processes, services, workers
from dashboard.views.health import healthz, readyz
from dashboard.views.metrics import metrics

app_name = "dashboard"

urlpatterns = [
    path("", processes.process_list, name="processes"),
    path("processes/<uuid:pk>/", process.process_detail, name="process"),
    path("processes/<uuid:pk>/state/<int:seq>/", process.process_state_at, name="state_at"),
    path("processes/<uuid:pk>/actions/<slug:action>/", process.process_action, name="action"),
    path("bulk/<slug:action>/", bulk.bulk_action, name="bulk"),
    path("bulk/<uuid:pk>/stop/", bulk.bulk_stop_view, name="bulk_stop"),
    path("services/", services.services, name="services"),
    path("services/demo-traffic/", services.traffic_save, name="traffic"),
    path("services/<slug:service>/faults/", services.faults_save, name="faults"),
    path("charts/", charts.charts, name="charts"),
    path("charts/data", charts.charts_data_view, name="charts_data"),
    path("workers/", workers.workers, name="workers"),
    path("workers/panel", workers.workers_panel, name="workers_panel"),
    path("login/", auth_views.LoginView.as_view(template_name="dashboard/login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics, name="metrics"),
]
