insert into stats.settings (singleton, min_cell_size) values (true, :min_cell_size)
on conflict (singleton) do update set min_cell_size = excluded.min_cell_size;
