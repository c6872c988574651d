#!/usr/bin/env python
"""Seeded synthetic inventory for benchmarks: writes the dyn_* tables directly with bulk SQL.

    python bench/generate.py --preset small|medium|cms [--seed N] --db-url URL [--migrate]

The inventory tables (and the change-set log) are truncated first and the state row is reset to
change set 0 (its other columns, the cluster's, are left alone); partition 1 ("Default", made by the
migration) is kept. Should generating fail, the tables are truncated again: never half an
inventory. Everything is derived from one random.Random(seed), so a preset and a seed always give
the same database. Rows go in with multi-row INSERTs on the raw MySQLdb / sqlite3
connection (never through the ORM), streamed dataset by dataset so memory stays small.

Shapes (cms preset): ~100 sites (T0/T1 disk + tape, T2, T3), 20 groups + the null group, 80k
datasets named /Primary/Era-Processing-vN/TIER, 1M blocks (UUID names, GB-scale sizes, lognormal
blocks per dataset so a few datasets have thousands of blocks), ~3.4 replicas per dataset (mostly
full, some partial), ~15% of block replicas owned by the null group, ~2% incomplete (only those get
dyn_files / dyn_block_replica_files rows), block replicas of one dataset replica sharing a handful
of timestamps, and one Default-partition quota per site.
"""
import argparse
import bisect
import json
import math
import os
import random
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dynamo_site.config import database_from_url  # noqa: E402  (pure function, no Django)

GB = 1000 ** 3
TB = 1000 ** 4
T_START = 1420070400      # 2015-01-01: first datasets
T_END = 1735689600        # 2025-01-01: "now" of the generated inventory (fixed: output is seeded)

PRESETS = {
    # files: 'all' = every block has its dyn_files rows; 'incomplete' = only blocks with an
    # incomplete replica (the server keeps no files in RAM, so the rest are irrelevant to it)
    'small': dict(sites=20, datasets=1_000, blocks=12_500, files='all'),
    'medium': dict(sites=60, datasets=20_000, blocks=250_000, files='incomplete'),
    'cms': dict(sites=100, datasets=80_000, blocks=1_000_000, files='incomplete'),
}
# replicas per dataset, k = 1..12: mean 3.42
REPLICA_WEIGHTS = [24, 19, 17, 13, 10, 6, 4, 3, 2, 1, 0.6, 0.4]
FULL_REPLICA_FRACTION = 0.88      # dataset replicas holding every block; the rest hold 10-95%
NULL_GROUP_FRACTION = 0.15        # of block replicas
IN_TRANSFER_FRACTION = 0.06       # dataset replicas with incomplete block replicas ...
INCOMPLETE_IN_TRANSFER = 0.35     # ... of which this fraction of block replicas is incomplete
MIXED_OWNERSHIP_FRACTION = 0.05   # owned dataset replicas whose block replicas have mixed owners ...
MIXED_OTHER_OWNER = 0.3           # ... of which this fraction is owned by the null group or another group

TABLES = {
    'site': ('dyn_sites', ('id', 'name', 'host', 'storage_type', 'backend', 'status',
                           'filename_mapping', 'x509proxy')),
    'quota': ('dyn_quotas', ('id', 'site_id', 'partition_id', 'quota')),
    'group': ('dyn_groups', ('id', 'name', 'olevel')),
    'dataset': ('dyn_datasets', ('id', 'name', 'status', 'data_type', 'software_version',
                                 'last_update', 'is_open')),
    'block': ('dyn_blocks', ('id', 'dataset_id', 'name', 'size', 'num_files', 'is_open',
                             'last_update')),
    'file': ('dyn_files', ('id', 'block_id', 'name', 'size', 'checksum')),
    'dataset_replica': ('dyn_dataset_replicas', ('id', 'dataset_id', 'site_id', 'growing',
                                                 'group_id')),
    'block_replica': ('dyn_block_replicas', ('id', 'block_id', 'site_id', 'group_id',
                                             'is_custodial', 'is_complete', 'size', 'last_update')),
    'brf': ('dyn_block_replica_files', ('id', 'block_id', 'site_id', 'file_id')),
}
TRUNCATE = ('dyn_block_replica_files', 'dyn_block_replicas', 'dyn_dataset_replicas', 'dyn_files',
            'dyn_blocks', 'dyn_datasets', 'dyn_quotas', 'dyn_sites', 'dyn_groups',
            'dyn_change_set_chunks', 'dyn_change_sets')

# enumeration values (inventory/objects/base.py)
DS_UNKNOWN, DS_DELETED, DS_DEPRECATED, DS_INVALID, DS_PRODUCTION, DS_VALID = 1, 2, 3, 4, 5, 6
DT_UNKNOWN, DT_PRODUCTION, DT_TEST = 1, 2, 3
ST_DISK, ST_MSS = 1, 2
SS_READY, SS_WAITROOM, SS_MORGUE = 1, 2, 3
OL_DATASET, OL_BLOCK = 1, 2


# ============================================================================ database writer
class Writer:
    """Bulk inserts on the raw DB-API connection, in chunks, with periodic commits."""

    CHUNK = 5000

    def __init__(self, url):
        self.url = url
        self.settings = database_from_url(url, str(ROOT / 'var'))
        self.vendor = 'mysql' if 'mysql' in self.settings['ENGINE'] else 'sqlite'
        if self.vendor == 'mysql':
            import MySQLdb
            s = self.settings
            self.conn = MySQLdb.connect(host=s['HOST'], port=int(s['PORT']), user=s['USER'],
                                        passwd=s['PASSWORD'], db=s['NAME'], charset='utf8mb4',
                                        autocommit=False)
            c = self.conn.cursor()
            # bulk-load settings for this session only
            c.execute("SET sql_mode='STRICT_TRANS_TABLES'")
            c.execute('SET unique_checks=0, foreign_key_checks=0')
            c.close()
            self.mark = '%s'
        else:
            import sqlite3
            self.conn = sqlite3.connect(self.settings['NAME'], timeout=30)
            self.conn.execute('PRAGMA synchronous=OFF')
            self.conn.execute('PRAGMA journal_mode=WAL')
            self.mark = '?'
        self.buffers = {key: [] for key in TABLES}
        self.counts = dict.fromkeys(TABLES, 0)
        self.since_commit = 0
        self.sql = {key: f'INSERT INTO {table} ({", ".join(cols)}) VALUES ({", ".join([self.mark] * len(cols))})'
                    for key, (table, cols) in TABLES.items()}

    def check_schema(self):
        c = self.conn.cursor()
        try:
            c.execute('SELECT COUNT(*) FROM dyn_inventory_state')
        except Exception as exc:   # noqa: BLE001 - any driver error means "no schema"
            raise SystemExit(f'no Dynamo schema at {self.url} ({exc}); run with --migrate, or '
                             f'DYNAMO_DB_URL={self.url} python manage.py migrate') from None
        finally:
            c.close()

    def truncate(self):
        c = self.conn.cursor()
        self._reset_state(c)
        for table in TRUNCATE:
            if self.vendor == 'mysql':
                c.execute(f'TRUNCATE TABLE {table}')
            else:
                c.execute(f'DELETE FROM {table}')
        c.execute('DELETE FROM dyn_partitions WHERE id <> 1')
        c.execute('SELECT COUNT(*) FROM dyn_partitions WHERE id = 1')
        if not c.fetchone()[0]:
            m = self.mark
            c.execute(f'INSERT INTO dyn_partitions (id, name, condition_text, subpartitions) '
                      f'VALUES ({m}, {m}, {m}, {m})', (1, 'Default', 'blockreplica.owner != None', ''))
        if self.vendor == 'sqlite':
            names = ', '.join(f"'{t}'" for t in TRUNCATE)
            try:
                c.execute(f'DELETE FROM sqlite_sequence WHERE name IN ({names})')
            except Exception:   # noqa: BLE001 - no AUTOINCREMENT table yet
                pass
        c.close()
        self.conn.commit()

    def add(self, key, row):
        buf = self.buffers[key]
        buf.append(row)
        if len(buf) >= self.CHUNK:
            self.flush(key)

    def flush(self, key=None):
        keys = [key] if key else list(self.buffers)
        c = self.conn.cursor()
        for k in keys:
            buf = self.buffers[k]
            if not buf:
                continue
            c.executemany(self.sql[k], buf)
            self.counts[k] += len(buf)
            self.since_commit += len(buf)
            self.buffers[k] = []
        c.close()
        if self.since_commit >= 200_000 or key is None:
            self.conn.commit()
            self.since_commit = 0

    def _reset_state(self, cursor):
        """The inventory is at change set 0, with an empty log, so the digest chain starts afresh.
        The row is made by the migrations; without it the server makes it at its first write (and
        reads a missing row as change set 0), so it is only updated here, never inserted."""
        m = self.mark
        now = time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())
        cursor.execute(f"UPDATE dyn_inventory_state SET seq = 0, digest = '', updated = {m} WHERE id = 1",
                       (now,))

    def discard(self):
        """After a failure: drop what was written, leaving empty inventory tables."""
        self.buffers = {key: [] for key in TABLES}
        self.conn.rollback()
        self.truncate()

    def analyze(self):
        c = self.conn.cursor()
        if self.vendor == 'mysql':
            c.execute('ANALYZE TABLE ' + ', '.join(t for t, _ in TABLES.values()))
            c.fetchall()
        else:
            c.execute('ANALYZE')
        c.close()
        self.conn.commit()


def migrate(url):
    """Create the database (MariaDB) if needed and run the project's migrations on it."""
    settings = database_from_url(url, str(ROOT / 'var'))
    if 'mysql' in settings['ENGINE']:
        import MySQLdb
        conn = MySQLdb.connect(host=settings['HOST'], port=int(settings['PORT']),
                               user=settings['USER'], passwd=settings['PASSWORD'], charset='utf8mb4')
        c = conn.cursor()
        c.execute(f'CREATE DATABASE IF NOT EXISTS `{settings["NAME"]}` '
                  f'CHARACTER SET utf8mb4 COLLATE utf8mb4_bin')
        conn.close()
    env = dict(os.environ, DYNAMO_DB_URL=url)
    subprocess.run([sys.executable, str(ROOT / 'manage.py'), 'migrate', '--noinput', '-v', '0'],
                   env=env, cwd=str(ROOT), check=True)


# ============================================================================ names
T1S = ('US_FNAL', 'DE_KIT', 'ES_PIC', 'FR_CCIN2P3', 'IT_CNAF', 'RU_JINR', 'UK_RAL')
T2S = ('US_MIT', 'US_Nebraska', 'US_Purdue', 'US_UCSD', 'US_Wisconsin', 'US_Caltech', 'US_Florida',
       'US_Vanderbilt', 'CH_CERN', 'CH_CSCS', 'DE_DESY', 'DE_RWTH', 'IT_Bari', 'IT_Legnaro',
       'IT_Pisa', 'IT_Rome', 'FR_GRIF_IRFU', 'FR_GRIF_LLR', 'FR_IPHC', 'FR_CCIN2P3', 'UK_London_IC',
       'UK_London_Brunel', 'UK_SGrid_Bristol', 'UK_SGrid_RALPP', 'ES_CIEMAT', 'ES_IFCA', 'BE_IIHE',
       'BE_UCL', 'AT_Vienna', 'BR_SPRACE', 'BR_UERJ', 'CN_Beijing', 'EE_Estonia', 'FI_HIP',
       'GR_Ioannina', 'HU_Budapest', 'IN_TIFR', 'KR_KISTI', 'KR_KNU', 'PK_NCP', 'PL_Swierk',
       'PL_Warsaw', 'PT_NCG_Lisbon', 'RU_IHEP', 'RU_INR', 'RU_ITEP', 'RU_JINR', 'RU_SINP',
       'TR_METU', 'TW_NCHC', 'UA_KIPT', 'CH_CERNBOX', 'IT_Padova', 'DE_KIT', 'ES_Uniovi',
       'MY_UPM_BIRUNI', 'TH_CUNSTDA', 'US_Colorado', 'US_Princeton', 'CN_CAS', 'IR_IPM', 'LV_HPCNET',
       'GR_Athens', 'HR_Zagreb', 'IE_Dublin', 'IL_Technion', 'JP_Tokyo', 'MX_Cinvestav',
       'NZ_Auckland', 'RO_ISS', 'RS_Belgrade', 'SE_Lund', 'SI_Ljubljana', 'SK_Kosice', 'US_Rice')
T3S = ('US_FNALLPC', 'US_Baylor', 'US_Colorado', 'US_NotreDame', 'US_OSU', 'US_Rutgers',
       'US_TAMU', 'US_UMD', 'US_UCR', 'US_UCSB', 'US_Brown', 'CH_PSI', 'IT_Trieste', 'IT_Perugia',
       'KR_KNU', 'TW_NTU_HEP', 'FR_IPNL', 'UK_London_QMUL', 'UK_ScotGrid_GLA', 'CN_PKU')

GROUPS = ('AnalysisOps', 'DataOps', 'IB RelVal', 'FacOps', 'b-physics', 'b-tagging', 'e-gamma_ecal',
          'exotica', 'forward', 'heavy-ions', 'higgs', 'jets-met_hcal', 'local', 'muon', 'susy',
          'tau-pflow', 'top', 'tracker-dpg', 'trigger', 'upgrade')
GROUP_WEIGHTS = [40, 30] + [30 / 18] * 18

DATA_PRIMARIES = ('SingleMuon', 'DoubleMuon', 'EGamma', 'SingleElectron', 'DoubleEG', 'MuonEG',
                  'JetHT', 'HTMHT', 'MET', 'Tau', 'BTagMu', 'Charmonium', 'MuOnia', 'ZeroBias',
                  'MinimumBias', 'NoBPTX', 'DisplacedJet', 'SinglePhoton', 'ParkingBPH1',
                  'ParkingBPH2', 'ParkingBPH3', 'ParkingBPH4', 'ParkingBPH5', 'HLTPhysics',
                  'Commissioning', 'Cosmics', 'AlCaLumiPixels', 'AlCaPhiSym', 'ScoutingPFMonitor',
                  'HighMultiplicityEOF', 'JetMET', 'Muon', 'EphemeralHLTPhysics', 'L1Accept')
DATA_TIERS = ('RAW', 'AOD', 'MINIAOD', 'NANOAOD', 'RAW-RECO', 'USER', 'ALCARECO', 'RECO')
MC_TIERS = ('GEN-SIM', 'GEN-SIM-DIGI-RAW', 'AODSIM', 'MINIAODSIM', 'NANOAODSIM', 'GEN',
            'PREMIX', 'GEN-SIM-RECO')
MC_PROCESSES = ('TTToSemiLeptonic', 'TTTo2L2Nu', 'TTToHadronic', 'DYJetsToLL_M-{m}', 'WJetsToLNu_HT-{r}',
                'QCD_Pt_{r}', 'QCD_HT{r}', 'ZZTo4L', 'WZTo3LNu', 'WWTo2L2Nu', 'GluGluHToZZTo4L_M{m}',
                'VBFHToTauTau_M{m}', 'GluGluHToGG_M{m}', 'ZprimeToTT_M{m}_W{w}', 'WprimeToENu_M-{m}',
                'RSGravitonToWW_M{m}', 'SMS-T1tttt_mGluino-{m}_mLSP-{w}', 'SMS-T2tt_mStop-{m}_mLSP-{w}',
                'BulkGravToHH_M-{m}', 'ST_t-channel_top_4f', 'ST_tW_antitop_5f', 'TTWJetsToLNu',
                'TTZToLLNuNu_M-10', 'GJets_HT-{r}', 'ZJetsToNuNu_HT-{r}', 'BsToMuMu', 'JpsiToMuMu_Pt{r}',
                'MinBias', 'SingleNeutrino', 'HSCPgluino_M-{m}', 'HNL_mN-{m}_ctau{w}mm',
                'DarkPhoton_M{m}', 'LQToBMu_M-{m}', 'ChargedHiggs_HplusTB_M{m}', 'TprimeBToTH_M-{m}')
MC_SUFFIXES = ('TuneCP5_13TeV-powheg-pythia8', 'TuneCP5_13TeV-madgraphMLM-pythia8',
               'TuneCP5_13TeV-amcatnloFXFX-pythia8', 'TuneCP5_13p6TeV-pythia8',
               'TuneCP5_PSweights_13TeV-madgraph-pythia8', 'TuneCUETP8M1_13TeV-pythia8')
DATA_ERAS = [f'Run{y}{e}' for y in (2016, 2017, 2018, 2022, 2023, 2024) for e in 'ABCDEFGH']
DATA_PROCESSINGS = ('17Jul2018', '12Nov2019_UL2018', '21Feb2020_UL2016', '09Aug2019_UL2017',
                    'PromptReco', '22Sep2023', '27Jun2023', 'MiniAODv2', 'NanoAODv9',
                    'UL2016_MiniAODv2', 'UL2017_MiniAODv2_NanoAODv9', 'ReReco-2024')
MC_ERAS = ('RunIISummer20UL16MiniAODv2', 'RunIISummer20UL17MiniAODv2', 'RunIISummer20UL18MiniAODv2',
           'RunIISummer20UL18NanoAODv9', 'RunIIFall17DRPremix', 'RunIIAutumn18MiniAOD',
           'Run3Summer22MiniAODv4', 'Run3Summer22EENanoAODv12', 'Run3Winter24GS', 'PhaseIISpring22DRMiniAOD')
MC_PROCESSINGS = ('106X_upgrade2018_realistic_v16_L1v1', '106X_mc2017_realistic_v9',
                  '106X_mcRun2_asymptotic_v17', '130X_mcRun3_2022_realistic_v5',
                  '102X_upgrade2018_realistic_v15', '94X_mc2017_realistic_v10',
                  '133X_mcRun3_2024_realistic_v10', 'PU200_123X_mcRun4_realistic_v11')
SOFTWARE_VERSIONS = [[c, ma, mi, s] for c, ma in ((8, 0), (9, 4), (10, 2), (10, 6), (12, 4), (13, 0), (13, 3), (14, 0))
                     for mi in (0, 2, 4, 7, 12, 29) for s in ('', '_patch1')]


def uuid_name(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_sites(n, rng):
    names = ['T0_CH_CERN_Disk', 'T0_CH_CERN_MSS']
    for t1 in T1S:
        names += [f'T1_{t1}_Disk', f'T1_{t1}_MSS']
    for t2 in T2S:
        names.append(f'T2_{t2}')
    for t3 in T3S:
        names.append(f'T3_{t3}')
    i = 0
    while len(names) < n:
        i += 1
        names.append(f'T3_XX_Site{i:03d}')
    # keep the tape and T1 sites, then a sample of the others
    head = [s for s in names if s.startswith(('T0', 'T1'))]
    rest = [s for s in names if not s.startswith(('T0', 'T1'))]
    if n < len(head) + 4:
        head = ['T0_CH_CERN_Disk', 'T0_CH_CERN_MSS', 'T1_US_FNAL_Disk', 'T1_US_FNAL_MSS']
    chosen = head + rest[:max(0, n - len(head))]
    sites = []
    for sid, name in enumerate(chosen[:n], start=1):
        mss = name.endswith('_MSS')
        tier = name[:2]
        short = name.split('_', 2)[2].lower().replace('_', '-')
        host = f'se.{short}.{name[3:5].lower()}'
        if mss:
            weight = 3.0
        elif tier in ('T0', 'T1'):
            weight = 7.0
        elif tier == 'T2':
            weight = rng.lognormvariate(0.3, 0.6)
        else:
            weight = 0.15
        status = SS_READY if rng.random() < 0.93 or tier in ('T0', 'T1') else rng.choice((SS_WAITROOM, SS_MORGUE))
        mapping = {'root': [[['/store/(.*)', f'root://{host}:1094//store/{{0}}']]],
                   'davs': [[['/store/(.*)', f'davs://{host}:2880/store/{{0}}']]]}
        sites.append(dict(id=sid, name=name, mss=mss, weight=weight, row=(
            sid, name, host, ST_MSS if mss else ST_DISK, f'davs://{host}:2880/store', status,
            json.dumps(mapping, sort_keys=True), None)))
    return sites


def make_primaries(rng, count):
    result = set(DATA_PRIMARIES)
    attempts = 0
    while len(result) < count:
        attempts += 1
        ext = f'_ext{attempts // (20 * count) + 1}' if attempts > 20 * count else ''
        proc = rng.choice(MC_PROCESSES).format(
            m=rng.choice((10, 50, 125, 200, 500, 750, 1000, 1500, 2000, 3000, 4500)),
            w=rng.choice((1, 10, 25, 50, 100, 300)),
            r=rng.choice(('70to100', '100to200', '200to400', '400to600', '600to800', '800to1200',
                          '1200to2500', '2500toInf', '15to30', '30to50', '50to80', '80to120')))
        result.add(f'{proc}_{rng.choice(MC_SUFFIXES)}{ext}')
    return sorted(result)


def make_dataset_names(n, rng):
    primaries = make_primaries(rng, max(40, n // 40))
    mc = [p for p in primaries if p not in DATA_PRIMARIES]
    seen = set()
    names = []
    while len(names) < n:
        if rng.random() < 0.25:
            primary = rng.choice(DATA_PRIMARIES)
            middle = f'{rng.choice(DATA_ERAS)}-{rng.choice(DATA_PROCESSINGS)}'
            tier = rng.choice(DATA_TIERS)
        else:
            primary = rng.choice(mc)
            middle = f'{rng.choice(MC_ERAS)}-{rng.choice(MC_PROCESSINGS)}'
            tier = rng.choice(MC_TIERS)
        version = 1 + min(int(rng.expovariate(1.5)), 8)
        name = f'/{primary}/{middle}-v{version}/{tier}'
        while name.lower() in seen:          # unique even under a case-insensitive collation
            version += 1
            name = f'/{primary}/{middle}-v{version}/{tier}'
        seen.add(name.lower())
        names.append((name, primary, middle, version, tier, primary not in DATA_PRIMARIES))
    return names


def skewed_counts(n, total, rng):
    """n positive ints summing to `total`, lognormal (median ~3.5 at 12.5 per item; max in the thousands)."""
    mean = total / n
    sigma = 1.6
    mu = math.log(mean) - sigma * sigma / 2
    raw = [rng.lognormvariate(mu, sigma) for _ in range(n)]
    scale = total / sum(raw)
    counts = [max(1, int(round(x * scale))) for x in raw]
    diff = total - sum(counts)
    order = sorted(range(n), key=lambda i: -counts[i])
    i = 0
    while diff != 0:                       # fix rounding on the largest items
        j = order[i % max(1, min(n, 1000))]
        if diff > 0:
            counts[j] += 1
            diff -= 1
        elif counts[j] > 1:
            counts[j] -= 1
            diff += 1
        i += 1
    return counts


def split_size(total, parts, rng):
    """`parts` non-negative ints summing to total (file sizes of a block)."""
    if parts == 1:
        return [total]
    weights = [rng.uniform(0.5, 1.5) for _ in range(parts)]
    s = sum(weights)
    sizes = [int(total * w / s) for w in weights]
    sizes[-1] += total - sum(sizes)
    return sizes


# ============================================================================ generation
class Progress:
    def __init__(self, total, writer):
        self.total = total
        self.writer = writer
        self.start = time.monotonic()
        self.last = 0

    def tick(self, done, force=False):
        now = time.monotonic()
        if not force and now - self.last < 3:
            return
        self.last = now
        elapsed = now - self.start
        c = self.writer.counts
        rate = done / elapsed if elapsed else 0
        eta = (self.total - done) / rate if rate else 0
        print(f'  {done:>8}/{self.total} datasets  {c["block"]:>9} blocks  {c["dataset_replica"]:>8} dataset replicas  '
              f'{c["block_replica"]:>9} block replicas  {c["file"]:>8} files  '
              f'{elapsed:6.0f} s  eta {eta:4.0f} s', flush=True)


def generate(preset, seed, writer):
    p = PRESETS[preset]
    rng = random.Random(seed)
    stats = dict(preset=preset, seed=seed)
    t0 = time.monotonic()

    print(f'truncating inventory tables at {writer.url}', flush=True)
    writer.truncate()

    sites = make_sites(p['sites'], rng)
    for s in sites:
        writer.add('site', s['row'])
    site_weights = [s['weight'] for s in sites]
    cum_site_weights = []
    acc = 0.0
    for w in site_weights:
        acc += w
        cum_site_weights.append(acc)
    groups = [(gid, name, OL_DATASET if name in ('AnalysisOps', 'DataOps') else OL_BLOCK)
              for gid, name in enumerate(GROUPS, start=1)]
    for g in groups:
        writer.add('group', g)
    group_ids = [g[0] for g in groups]
    writer.flush()

    print('drawing dataset names and block counts', flush=True)
    names = make_dataset_names(p['datasets'], rng)
    block_counts = skewed_counts(p['datasets'], p['blocks'], rng)
    sv_texts = [json.dumps(v) for v in SOFTWARE_VERSIONS]
    all_files = p['files'] == 'all'
    max_replicas = min(len(REPLICA_WEIGHTS), len(sites))
    replica_ks = list(range(1, max_replicas + 1))
    replica_w = REPLICA_WEIGHTS[:max_replicas]

    usage = [0] * (len(sites) + 1)          # Default-partition (owned) bytes per site id
    total_bytes = [0] * (len(sites) + 1)
    block_id = 0
    dr_id = 0
    br_id = 0
    file_id = 0
    brf_id = 0
    n_null = n_incomplete = n_custodial = n_partial = n_growing = 0
    distinct_stamps_per_dr = 0
    progress = Progress(p['datasets'], writer)
    randint, rand, choices = rng.randint, rng.random, rng.choices
    print(f'generating preset {preset} (seed {seed}): {p["datasets"]} datasets, {p["blocks"]} blocks, '
          f'{len(sites)} sites', flush=True)

    for did, (name, primary, middle, version, tier, is_mc) in enumerate(names, start=1):
        nb = block_counts[did - 1]
        # ---- dataset: creation time (recent ones more likely), production span, state
        created = int(T_END - (T_END - T_START) * (rand() ** 1.4))
        span = min(T_END - created, int(nb * rng.uniform(600, 6 * 3600)) + 3600)
        recent = T_END - created < 120 * 86400
        is_open = recent and rand() < 0.6
        r = rand()
        if is_open:
            status = DS_PRODUCTION
        elif r < 0.88:
            status = DS_VALID
        elif r < 0.95:
            status = DS_DEPRECATED
        elif r < 0.98:
            status = DS_INVALID
        elif r < 0.99:
            status = DS_DELETED
        else:
            status = DS_UNKNOWN
        r = rand()
        data_type = DT_PRODUCTION if r < 0.97 else (DT_TEST if r < 0.99 else DT_UNKNOWN)
        sv = None if rand() < 0.05 else sv_texts[min(len(sv_texts) - 1, int((created - T_START) / (T_END - T_START) * len(sv_texts)))]

        # ---- blocks: times spread over the span, sizes lognormal (median ~8 GB)
        times = sorted(created + int(rand() * span) for _ in range(nb))
        file_size = {'NANOAOD': 1.0, 'NANOAODSIM': 1.0, 'RAW': 4.0}.get(tier, 2.5) * GB
        blocks = []
        for j in range(nb):
            block_id += 1
            size = int(rng.lognormvariate(22.8, 1.1))            # e^22.8 B ~ 8 GB
            nfiles = max(1, int(round(size / (file_size * rng.uniform(0.6, 1.4)))))
            bopen = is_open and j == nb - 1
            blocks.append([block_id, size, nfiles, times[j], False])   # [id, size, nfiles, t, needs files]
            writer.add('block', (block_id, did, uuid_name(rng), size, nfiles, bopen, times[j]))
        writer.add('dataset', (did, name, status, data_type, sv, times[-1], is_open))

        # ---- replicas: k distinct sites, weighted by site size
        k = choices(replica_ks, replica_w)[0]
        chosen = []
        while len(chosen) < k:
            for s in choices(sites, cum_weights=cum_site_weights, k=k):
                if s not in chosen and len(chosen) < k:
                    chosen.append(s)
        incomplete_files = {}            # block index -> list of (file id, size)
        pending_brf = []
        for site in chosen:
            sid = site['id']
            dr_id += 1
            # group: keep the null group near 15% of block replicas
            r = rand()
            if n_null > NULL_GROUP_FRACTION * 1.05 * (br_id + 1) and br_id > 1000:
                r = 1.0
            elif n_null < NULL_GROUP_FRACTION * 0.95 * (br_id + 1) and br_id > 1000:
                r = 0.0
            group = None if r < NULL_GROUP_FRACTION else choices(group_ids, GROUP_WEIGHTS)[0]
            growing = is_open and rand() < 0.7
            n_growing += growing
            writer.add('dataset_replica', (dr_id, did, sid, growing, group))
            # which blocks
            if nb == 1 or rand() < FULL_REPLICA_FRACTION:
                indices = range(nb)
            else:
                m = max(1, int(round(nb * rng.uniform(0.10, 0.95))))
                indices = sorted(rng.sample(range(nb), m))
                n_partial += 1
            # a handful of transfer timestamps after the replica was requested
            requested = created + int(rng.expovariate(1 / (5 * 86400)))
            stamps = sorted(min(T_END, requested + int(rand() * (span + 7 * 86400)))
                            for _ in range(1 + min(4, int(rng.expovariate(0.8)))))
            if rand() < 0.2:   # later touched (group change, consistency check): one more shared stamp
                stamps.append(min(T_END, stamps[-1] + int(rng.expovariate(1 / (90 * 86400)))))
            used_stamps = set()
            in_transfer = rand() < IN_TRANSFER_FRACTION
            mixed = group is not None and rand() < MIXED_OWNERSHIP_FRACTION
            custodial = site['mss']
            for idx in indices:
                bid, size, nfiles, tb, _ = blocks[idx]
                pos = bisect.bisect_left(stamps, tb)
                t = stamps[pos] if pos < len(stamps) else min(T_END, tb + randint(600, 86400))
                used_stamps.add(t)
                br_group = group
                if mixed and rand() < MIXED_OTHER_OWNER:
                    # block-level ownership differs: released to the null group, or another group
                    br_group = None if rand() < 0.5 else choices(group_ids, GROUP_WEIGHTS)[0]
                br_id += 1
                if br_group is None:
                    n_null += 1
                if in_transfer and rand() < INCOMPLETE_IN_TRANSFER:
                    # incomplete: some of the block's files are here
                    files = incomplete_files.get(idx)
                    if files is None:
                        files = [(file_id + 1 + i, fs) for i, fs in enumerate(split_size(size, nfiles, rng))]
                        file_id += nfiles
                        incomplete_files[idx] = files
                    present = rng.sample(files, randint(0, nfiles - 1)) if nfiles > 1 else []
                    present_size = sum(fs for _, fs in present)
                    writer.add('block_replica', (br_id, bid, sid, br_group, custodial, False, present_size, t))
                    for fid, _ in present:
                        pending_brf.append((bid, sid, fid))
                    n_incomplete += 1
                    if br_group is not None:
                        usage[sid] += present_size
                    total_bytes[sid] += present_size
                else:
                    writer.add('block_replica', (br_id, bid, sid, br_group, custodial, True, None, t))
                    if br_group is not None:
                        usage[sid] += size
                    total_bytes[sid] += size
                n_custodial += custodial
            distinct_stamps_per_dr += len(used_stamps)

        # ---- files: for blocks with an incomplete replica (or every block for files='all')
        if all_files:
            for idx, (bid, size, nfiles, tb, _) in enumerate(blocks):
                if idx not in incomplete_files:
                    incomplete_files[idx] = [(file_id + 1 + i, fs) for i, fs in enumerate(split_size(size, nfiles, rng))]
                    file_id += nfiles
        if incomplete_files:
            lfn_base = f'/store/{"mc" if is_mc else "data"}/{middle.split("-")[0]}/{primary}/{tier}/' \
                       f'{middle.split("-", 1)[1]}-v{version}'
            for idx in sorted(incomplete_files):
                bid = blocks[idx][0]
                for fid, fs in incomplete_files[idx]:
                    checksum = json.dumps([['adler32', f'{rng.getrandbits(32):08x}']])
                    writer.add('file', (fid, bid, f'{lfn_base}/{fid // 1000:06d}/{uuid_name(rng).upper()}.root',
                                        fs, checksum))
        for bid, sid, fid in pending_brf:
            brf_id += 1
            writer.add('brf', (brf_id, bid, sid, fid))
        progress.tick(did)

    # ---- quotas (Default partition): tape unlimited, disk 10-60% above the owned usage, in TB
    for s in sites:
        if s['mss']:
            quota = -1
        else:
            quota = int(math.ceil(usage[s['id']] * rng.uniform(1.1, 1.6) / TB)) * TB
        writer.add('quota', (s['id'], s['id'], 1, quota))
    writer.flush()
    progress.tick(p['datasets'], force=True)
    print('analyzing tables', flush=True)
    writer.analyze()

    c = writer.counts
    stats.update(
        sites=c['site'], groups=c['group'], datasets=c['dataset'], blocks=c['block'],
        dataset_replicas=c['dataset_replica'], block_replicas=c['block_replica'], files=c['file'],
        block_replica_files=c['brf'], partial_dataset_replicas=n_partial, growing_dataset_replicas=n_growing,
        null_group_fraction=round(n_null / max(1, br_id), 4),
        incomplete_fraction=round(n_incomplete / max(1, br_id), 4),
        custodial_fraction=round(n_custodial / max(1, br_id), 4),
        replicas_per_dataset=round(dr_id / max(1, c['dataset']), 3),
        max_blocks_per_dataset=max(block_counts),
        datasets_over_1000_blocks=sum(1 for n in block_counts if n > 1000),
        distinct_timestamps_per_dataset_replica=round(distinct_stamps_per_dr / max(1, dr_id), 2),
        total_replicated_pb=round(sum(total_bytes) / 1000 ** 5, 2),
        seconds=round(time.monotonic() - t0, 1))
    return stats


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--preset', choices=sorted(PRESETS), required=True)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--db-url', default=os.environ.get('DYNAMO_DB_URL'),
                    help='mysql://USER@HOST:PORT/DB or sqlite:///PATH (default: $DYNAMO_DB_URL)')
    ap.add_argument('--migrate', action='store_true',
                    help='create the database if needed (MariaDB) and run the migrations first')
    args = ap.parse_args(argv)
    if not args.db_url:
        ap.error('--db-url (or DYNAMO_DB_URL) is required')
    if args.migrate:
        print('migrating', flush=True)
        migrate(args.db_url)
    writer = Writer(args.db_url)
    writer.check_schema()
    try:
        stats = generate(args.preset, args.seed, writer)
    except BaseException:
        print('generating failed: truncating the inventory tables again', file=sys.stderr, flush=True)
        writer.discard()
        raise
    finally:
        writer.conn.close()
    print(json.dumps(stats, indent=1))


if __name__ == '__main__':
    main()
