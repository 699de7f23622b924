from voxlancer.config import Settings
from voxlancer.up import local_database_url


def test_commands_find_the_database_voxlancer_up_runs(tmp_path):
    settings = Settings.from_env({"VOXLANCER_DATA_DIR": str(tmp_path)})
    assert local_database_url(settings) is None
    (tmp_path / "postgres").mkdir()
    (tmp_path / "postgres" / "port").write_text("54321")
    assert local_database_url(settings) == "postgresql://postgres@127.0.0.1:54321/voxlancer"
