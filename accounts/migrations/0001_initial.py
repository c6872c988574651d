# The tables were made by webmodules 0001 (where these models lived first): only the state moves.
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ('webmodules', '0001_initial'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[
            migrations.CreateModel(
                name='Identity',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('dn', models.CharField(max_length=512, unique=True)),
                    ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='identities', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'verbose_name_plural': 'identities',
                    'db_table': 'dyn_identities',
                },
            ),
            migrations.CreateModel(
                name='RoleGrant',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('role', models.CharField(help_text='e.g. admin, operator', max_length=64)),
                    ('target', models.CharField(blank=True, default='', help_text='e.g. inventory, application; empty = every target', max_length=64)),
                    ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='role_grants', to=settings.AUTH_USER_MODEL)),
                ],
                options={
                    'db_table': 'dyn_role_grants',
                    'constraints': [models.UniqueConstraint(fields=('user', 'role', 'target'), name='dyn_rolegrant_unique')],
                },
            ),
        ]),
    ]
